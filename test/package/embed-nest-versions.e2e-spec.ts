/**
 * The package as a stranger gets it: `npm pack` on a fresh checkout (prepack builds dist/),
 * the tarball installed from the npm registry into fresh Nest host apps on the oldest and the
 * newest Nest 11 release the package claims (peerDependencies), each with a gateway of its
 * own beside ours, streaming to a werift viewer; one copy of every @nestjs package. And the
 * browser client as a web developer gets it: the README's page examples compile under
 * `strict` against `webrtc-oneway/client`, and a bundle of such a page holds socket.io-client
 * once.
 *
 * Needs the npm registry (npm install). Slow (two installs): about 2-4 min on two cores.
 */
import { buildSync } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import type { ClientSocket } from '../../src/client/streaming-client';
import { WeriftViewer, request } from '../helpers/werift-viewer';
import {
  HostProcess,
  HostVersions,
  REPO,
  createHost,
  freshCheckout,
  installedCopies,
  node22,
  pack,
  readmeBlocks,
  removeDir,
  run,
  startHost,
  tempDir,
} from './pack-helpers';

jest.setTimeout(600_000);

/** The ends of the range the package claims (package.json peerDependencies: ^11.0.0). */
const OLDEST: HostVersions = {
  name: 'nest-11.0.0',
  nest: { common: '11.0.0', core: '11.0.0', platformExpress: '11.0.0', websockets: '11.0.0', platformSocketIo: '11.0.0' },
  classValidator: '0.14.1',
  classTransformer: '0.5.1',
  reflectMetadata: '0.2.0',
  rxjs: '7.8.1',
};
const NEWEST: HostVersions = {
  name: 'nest-11.2.10',
  nest: { common: '11.2.10', core: '11.2.10', platformExpress: '11.2.10', websockets: '11.2.6', platformSocketIo: '11.2.6' },
  classValidator: '0.15.1',
  classTransformer: '0.5.1',
  reflectMetadata: '0.2.2',
  rxjs: '7.8.2',
};

const SINGLE_COPY = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/websockets',
  '@nestjs/platform-socket.io',
  'socket.io',
  'rxjs',
  'class-validator',
  'class-transformer',
  'werift',
];

let work: string;
let tarball: string;
let packed: string[];

beforeAll(() => {
  work = tempDir('webrtc-oneway-pack-');
  const checkout = freshCheckout(join(work, 'checkout'));
  ({ tarball, files: packed } = pack(checkout, work));
});
afterAll(() => removeDir(work));

it('npm pack on a fresh checkout builds dist/ and ships the server, the client module, its types and the bundle', () => {
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.mjs', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/types-esm/client/index.d.ts', 'dist/types-esm/package.json', 'dist/public/client.js', 'public/index.html', 'assets/test-pattern.ivf']) {
    expect(packed).toContain(f);
  }
  expect(packed.filter((f) => /\.spec\./.test(f))).toEqual([]);
  const manifest = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], work));
  // Nest and friends are the host's: peers, not dependencies.
  for (const name of [...SINGLE_COPY.filter((n) => n !== 'werift'), 'reflect-metadata']) {
    expect(manifest.dependencies[name]).toBeUndefined();
    expect(manifest.peerDependencies[name]).toBeDefined();
  }
  expect(manifest.peerDependenciesMeta['socket.io-client']).toEqual({ optional: true });
  // Only our types use socket.io; at run time it is @nestjs/platform-socket.io's (which pins
  // a version): an optional peer, so npm does not install a second copy beside Nest's.
  expect(manifest.peerDependenciesMeta['socket.io']).toEqual({ optional: true });
  // The native SRTP addon: optional (a compiler at install time), as bufferutil is for ws.
  expect(manifest.peerDependenciesMeta['webrtc-oneway-srtp']).toEqual({ optional: true });
  // The ES module imports socket.io-client instead of carrying a copy; the bundle carries it.
  const mod = run('tar', ['-xzOf', tarball, 'package/dist/client/index.mjs'], work);
  expect(mod).toMatch(/from\s*["']socket\.io-client["']/);
  expect(mod).not.toContain('transport close');
  expect(run('tar', ['-xzOf', tarball, 'package/dist/public/client.js'], work)).toContain('transport close');
});

describe.each([
  ['the oldest', OLDEST, false],
  ['the newest', NEWEST, false],
  ['the newest, on Node 22,', NEWEST, true],
])('installed into a fresh Nest app on %s Nest 11 release claimed', (_label, versions, onNode22) => {
  let host: string;
  let app: HostProcess | undefined;
  const sockets: ClientSocket[] = [];
  const viewers: WeriftViewer[] = [];
  let node: string | undefined = process.execPath;

  beforeAll(() => {
    if (onNode22) {
      node = node22();
      if (!node && process.env.CI) throw new Error('Node 22 (npx -p node@22) is not available; CI tests on it');
      if (!node) return;
    }
    host = join(work, `host-${versions.name}${onNode22 ? '-node22' : ''}`);
    createHost(host, tarball, versions);
  });
  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    for (const s of sockets.splice(0)) s.disconnect();
    await app?.stop();
    app = undefined;
  });

  function connect(url: string): Promise<ClientSocket> {
    const s: ClientSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(s);
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  }

  it('has one copy of each Nest package (and of socket.io, rxjs, ...): the host\'s', () => {
    if (!node) return console.warn('SKIPPED: no Node 22 binary (npx -p node@22)');
    for (const name of SINGLE_COPY) {
      const copies = installedCopies(host, name);
      expect({ name, copies: Object.keys(copies) }).toEqual({ name, copies: [`node_modules/${name}`] });
    }
    expect(installedCopies(host, '@nestjs/core')['node_modules/@nestjs/core']).toBe(versions.nest.core);
    expect(installedCopies(host, '@nestjs/websockets')['node_modules/@nestjs/websockets']).toBe(versions.nest.websockets);
    // reflect-metadata: the host's at the top (werift's @peculiar/x509 pins a copy of its own,
    // which shares the global metadata registry).
    expect(installedCopies(host, 'reflect-metadata')['node_modules/reflect-metadata']).toBe(versions.reflectMetadata);
    // npm agrees: `npm ls` reports no invalid or duplicated peer.
    const ls = JSON.parse(run('npm', ['ls', '--all', '--json', ...SINGLE_COPY], host)) as { problems?: string[] };
    expect(ls.problems ?? []).toEqual([]);
  });

  it("boots with the host's own gateway beside ours and streams to a werift viewer", async () => {
    if (!node) return console.warn('SKIPPED: no Node 22 binary (npx -p node@22)');
    app = await startHost(host, node);
    expect(app.node).toEqual(onNode22 ? expect.stringMatching(/^v22\./) : process.version);

    const hostSocket = await connect(app.url);
    const untyped = hostSocket.timeout(5000) as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> };
    expect(await untyped.emitWithAck('host:hello', {})).toEqual({ ok: true, from: 'host' });

    const v = new WeriftViewer(await connect(`${app.url}/streaming`));
    viewers.push(v);
    expect(await request(v.socket, 'sources:list', {})).toMatchObject({ ok: true, sources: [{ id: 'test', kind: 'test', codec: 'VP8' }] });
    await v.startWithOffer();
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    expect(v.keyframes).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(await v.roundTrip(JSON.stringify({ type: 'ping', id: 7 }), (m) => m.includes('"id":7')))).toEqual({ type: 'pong', id: 7 });
    expect(app.output()).not.toMatch(/Nest can't resolve|ERROR/);
  });

  if (versions === NEWEST && !onNode22) {
    it("compiles the README's page examples under strict, and bundles such a page with one socket.io-client", () => {
      const blocks = readmeBlocks('Using it from your own page');
      expect(blocks.length).toBeGreaterThan(0);
      const page = join(host, 'page');
      run('mkdir', ['-p', page], host);
      blocks.forEach((code, i) => writeFileSync(join(page, `example-${i}.ts`), code));
      writeFileSync(
        join(page, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            noEmit: true,
            target: 'ES2022',
            module: 'ESNext',
            moduleResolution: 'bundler',
            lib: ['ES2022', 'DOM', 'DOM.Iterable'],
            types: [],
            isolatedModules: true,
          },
          include: ['*.ts'],
        }),
      );
      // The page sees the package only through its exports (`webrtc-oneway/client`).
      run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], page);
      // And as an ES module under Node's own resolution (module/moduleResolution NodeNext).
      const esm = join(page, 'nodenext');
      run('mkdir', ['-p', esm], host);
      blocks.forEach((code, i) => writeFileSync(join(esm, `example-${i}.mts`), code));
      writeFileSync(
        join(esm, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [] },
          include: ['*.mts'],
        }),
      );
      run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], esm);

      const result = buildSync({
        entryPoints: [join(page, 'example-0.ts')],
        bundle: true,
        format: 'esm',
        target: 'es2022',
        minify: true,
        metafile: true,
        write: false,
        absWorkingDir: host,
        logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile.inputs);
      // The client came from the ES module (not the bundle), socket.io-client from one place.
      expect(inputs).toContain('node_modules/webrtc-oneway/dist/client/index.mjs');
      expect(inputs.filter((i) => i.includes('dist/public/client.js'))).toEqual([]);
      const roots = new Set(inputs.filter((i) => /(^|\/)socket\.io-client\//.test(i)).map((i) => i.slice(0, i.indexOf('socket.io-client/'))));
      expect([...roots]).toEqual(['node_modules/']);
      // The same count of a socket.io-client string as in a bundle of socket.io-client alone.
      const text = result.outputFiles[0].text;
      writeFileSync(join(page, 'io-only.mjs'), "import { io } from 'socket.io-client'; console.log(io);\n");
      const ioOnly = buildSync({ entryPoints: [join(page, 'io-only.mjs')], bundle: true, format: 'esm', minify: true, write: false, absWorkingDir: host, logLevel: 'silent' });
      const count = (t: string) => t.split('transport close').length - 1;
      expect(count(ioOnly.outputFiles[0].text)).toBeGreaterThan(0);
      expect(count(text)).toBe(count(ioOnly.outputFiles[0].text));
      const kb = (n: number) => Math.round(n / 102.4) / 10;
      const mod = readFileSync(join(host, 'node_modules/webrtc-oneway/dist/client/index.mjs'));
      console.log(
        `page bundle (minified): ${kb(text.length)} kB, of which socket.io-client alone ${kb(ioOnly.outputFiles[0].text.length)} kB; ` +
          `webrtc-oneway/client module unminified: ${kb(mod.length)} kB`,
      );
    });
  }
});
