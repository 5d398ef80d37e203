/**
 * Helpers for the package tests: a fresh checkout of this repository (the tracked files as
 * they are in the work tree, no dist/), `npm pack` on it, fresh host projects that install
 * the tarball from the npm registry beside exact Nest versions, and child processes that run
 * them.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export const REPO = join(__dirname, '..', '..');

/** Runs a command and returns its output; throws with the output on a non-zero exit. */
export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`.slice(-8000));
  }
  return r.stdout;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A fresh checkout: every file git tracks (or would track: new files not ignored), copied
 * as it is in the work tree, so uncommitted changes are tested too; no dist/, no
 * node_modules. `linkModules` links this checkout's node_modules instead of running `npm ci`
 * (the same lockfile; an install would add minutes and nothing the pack depends on).
 */
export function freshCheckout(dest: string, linkModules = true): string {
  const files = run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], REPO).split('\0').filter(Boolean);
  for (const f of files) {
    const from = join(REPO, f);
    if (!existsSync(from)) continue; // deleted in the work tree
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    cpSync(from, join(dest, f));
  }
  if (linkModules) symlinkSync(join(REPO, 'node_modules'), join(dest, 'node_modules'), 'dir');
  return dest;
}

/** `npm pack` in `dir`; returns the tarball's path and the files it holds. */
export function pack(dir: string, dest: string): { tarball: string; files: string[] } {
  const out = run('npm', ['pack', '--json', '--pack-destination', dest], dir);
  // prepack's build output comes first on stdout; the JSON report is the last array.
  const json = JSON.parse(out.slice(out.lastIndexOf('\n[') + 1)) as Array<{ filename: string; files: { path: string }[] }>;
  return { tarball: join(dest, json[0].filename), files: json[0].files.map((f) => f.path) };
}

/** The versions a host project pins: one Nest 11 release line end and what goes with it. */
export interface HostVersions {
  name: string;
  nest: { common: string; core: string; platformExpress: string; websockets: string; platformSocketIo: string };
  classValidator: string;
  classTransformer: string;
  reflectMetadata: string;
  rxjs: string;
}

/** Writes a fresh Nest host project that depends on the tarball and installs it from the registry. */
export function createHost(dir: string, tarball: string, v: HostVersions): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  const pkg = {
    name: `host-${v.name}`,
    private: true,
    dependencies: {
      '@nestjs/common': v.nest.common,
      '@nestjs/core': v.nest.core,
      '@nestjs/platform-express': v.nest.platformExpress,
      '@nestjs/websockets': v.nest.websockets,
      '@nestjs/platform-socket.io': v.nest.platformSocketIo,
      'class-transformer': v.classTransformer,
      'class-validator': v.classValidator,
      'reflect-metadata': v.reflectMetadata,
      rxjs: v.rxjs,
      'socket.io-client': devVersion('socket.io-client'),
      'webrtc-oneway': `file:${relative(dir, tarball)}`,
    },
    devDependencies: { '@types/node': devVersion('@types/node') },
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'commonjs',
        target: 'ES2022',
        strict: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        outDir: 'dist',
        rootDir: 'src',
        skipLibCheck: true,
        types: ['node'],
      },
      include: ['src/**/*.ts'],
    }),
  );
  writeFileSync(join(dir, 'src', 'app.module.ts'), HOST_APP_MODULE);
  writeFileSync(join(dir, 'src', 'main.ts'), HOST_MAIN);
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  // The host's TypeScript compiles against the package's types and its own Nest.
  run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
}

function devVersion(name: string): string {
  return JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).devDependencies[name];
}

/**
 * A host app of its own: its own gateway on the default namespace, ours on /streaming, the
 * built-in test pattern as the source. socket.io is not listed: it comes with
 * @nestjs/platform-socket.io (which pins it), as in a new Nest app.
 */
const HOST_APP_MODULE = `
import { Module } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { StreamingModule } from 'webrtc-oneway';

@WebSocketGateway()
export class HostGateway {
  @SubscribeMessage('host:hello')
  hello(): { ok: true; from: string } {
    return { ok: true, from: 'host' };
  }
}

@Module({
  imports: [
    StreamingModule.forRoot({
      gateway: { namespace: '/streaming' },
      announcedAddresses: ['127.0.0.1'],
      bindAddress: '127.0.0.1',
      remoteAddressFilter: (address: string) => address.startsWith('127.'),
    }),
  ],
  providers: [HostGateway],
})
export class AppModule {}
`;

const HOST_MAIN = `
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  console.log(JSON.stringify({ ready: true, port: address.port, node: process.version }));
}
void main();
`;

/** A running host app. */
export interface HostProcess {
  url: string;
  node: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `node dist/main.js` in the host (with `nodeBinary`) and waits for its port. */
export function startHost(dir: string, nodeBinary = process.execPath): Promise<HostProcess> {
  const child = spawn(nodeBinary, ['dist/main.js'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const output = () => out;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('the host did not start within 30 s')), 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n${out}`));
    };
    child.on('exit', (code) => fail(new Error(`the host exited (${code})`)));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (!line) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const { port, node } = JSON.parse(line) as { port: number; node: string };
      resolve({
        url: `http://127.0.0.1:${port}`,
        node,
        child,
        output,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      });
    });
  });
}

/**
 * Every installed copy of a package under `root/node_modules` (nested ones included), as
 * `path -> version`, read from the filesystem.
 */
export function installedCopies(root: string, name: string): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (modules: string) => {
    if (!existsSync(modules)) return;
    const pj = join(modules, name, 'package.json');
    if (existsSync(pj)) found[relative(root, join(modules, name))] = JSON.parse(readFileSync(pj, 'utf8')).version;
    for (const entry of readdirSync(modules)) {
      const dirs = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((e) => join(entry, e)) : [entry];
      for (const d of dirs) walk(join(modules, d, 'node_modules'));
    }
  };
  walk(join(root, 'node_modules'));
  return found;
}

/** A Node 22 binary from the npm registry's `node` package (`npx -p node@22`), or undefined. */
export function node22(): string | undefined {
  if (process.version.startsWith('v22.')) return process.execPath; // the suite runs on 22 already
  // Under an outer `npx -c` (CI's second run), its npm_config_call would leak into ours.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.toLowerCase() !== 'npm_config_call'));
  const r = spawnSync('npx', ['-y', '-p', 'node@22', '-c', 'node -p process.execPath'], { encoding: 'utf8', timeout: 300_000, env });
  const path = r.status === 0 ? r.stdout.trim().split('\n').pop() : undefined;
  if (!path) return undefined;
  const v = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return v.startsWith('v22.') ? path : undefined;
}

/** The TypeScript code blocks of one README section (`## title` up to the next `## `). */
export function readmeBlocks(section: string, lang = 'ts'): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`README has no section "${section}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const body = readme.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

export function removeDir(dir: string | undefined): void {
  if (dir && !process.env.KEEP_PACKAGE_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
}
