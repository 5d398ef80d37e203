/**
 * The packed package, installed as a user would: `npm run build`, `npm pack`, then
 * `npm install --ignore-scripts` of the tarball into a fresh Nest app in a temporary
 * directory. That app (test/package/fresh-app.js: default options, no STUN server given)
 * and werift viewers run inside a network namespace that has only loopback
 * (`unshare -n`, `ip link set lo up`), under strace: the viewers go through stop and
 * resume, and no socket may connect or send to any address but 127.0.0.1 / ::1 (the
 * attempt is what is checked: in that namespace any other address is unreachable anyway).
 * A control run shows that the trace does catch such attempts (a UDP datagram to
 * 192.0.2.1 and a DNS lookup).
 *
 * Needs root (unshare), strace and the npm registry or cache (for the app's install).
 * The build and pack step assume that `npm pack` packs dist/ as built here (no prepack).
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freshCheckout } from './pack-helpers';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');
const TRACED = 'connect,sendto,sendmsg,sendmmsg';

/** Addresses in strace lines of connect/sendto/sendmsg (AF_INET and AF_INET6). */
export function tracedAddresses(trace: string): string[] {
  const found = new Set<string>();
  for (const line of trace.split('\n')) {
    if (!/\b(connect|sendto|sendmsg|sendmmsg)\(/.test(line)) continue;
    for (const m of line.matchAll(/inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"/g)) found.add(m[1] ?? m[2]);
  }
  return [...found];
}
const loopback = (a: string) => /^127\./.test(a) || a === '::1' || /^::ffff:127\./.test(a);

function inNamespace(script: string, cwd: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && ${script}`], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

describe('the packed package in a fresh app, loopback-only network namespace', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'webrtc-oneway-pkg-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the strace check catches a packet or a DNS lookup off the host (control)', async () => {
    const code =
      "const d=require('dgram').createSocket('udp4');d.send('x',9,'192.0.2.1',()=>{d.close();" +
      "require('dns').lookup('stun.l.google.com',()=>process.exit(0))})";
    const r = await inNamespace(`strace -f -qq -e trace=${TRACED} -o trace.txt ${process.execPath} -e "${code}"`, dir, 30_000);
    expect(r.code).toBe(0);
    const offHost = tracedAddresses(readFileSync(join(dir, 'trace.txt'), 'utf8')).filter((a) => !loopback(a));
    expect(offHost).toContain('192.0.2.1');
    // The resolver's address (whatever /etc/resolv.conf names) is an attempt too.
    expect(offHost.length).toBeGreaterThan(1);
  }, 60_000);

  it('streams, stops and resumes the video, and nothing tries to leave the host', async () => {
    // Built and packed in a copy of the work tree: `nest build` empties dist/, and the other
    // lanes' tests serve this checkout's dist/public/client.js meanwhile.
    const checkout = freshCheckout(join(dir, 'checkout'));
    await run('npm', ['run', 'build'], { cwd: checkout, timeout: 180_000 });
    const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: checkout })).stdout) as {
      filename: string;
      files: { path: string }[];
    }[];
    expect(packed[0].files.map((f) => f.path)).toContain('dist/werift/index.js');
    const app = join(dir, 'app');
    const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const pick = (n: string) => ours.dependencies[n] ?? '*';
    require('node:fs').mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'fresh-nest-app',
        private: true,
        dependencies: {
          'webrtc-oneway': `file:../${packed[0].filename}`,
          '@nestjs/common': pick('@nestjs/common'),
          '@nestjs/core': pick('@nestjs/core'),
          '@nestjs/platform-express': pick('@nestjs/platform-express'),
          'reflect-metadata': pick('reflect-metadata'),
          rxjs: pick('rxjs'),
        },
      }),
    );
    await run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, timeout: 240_000 });
    // Nothing on disk patches werift: it is byte-for-byte the published package.
    expect(readFileSync(join(app, 'node_modules/werift/lib/ice/src/ice.js'), 'utf8')).toMatch(/\?\? DEFAULT_STUN_SERVER/);
    copyFileSync(join(__dirname, 'fresh-app.js'), join(app, 'app.js'));

    const viewer = `${process.execPath} -r ${join(ROOT, 'test/helpers/ts-register.js')} ${join(__dirname, 'viewer-run.ts')} ready.json`;
    const script =
      `strace -f -qq -e trace=${TRACED} -o app-trace.txt ${process.execPath} app.js & ` +
      `strace -f -qq -e trace=${TRACED} -o viewer-trace.txt ${viewer}; rc=$?; ` +
      `kill -TERM $(node -p "require('./ready.json').pid" 2>/dev/null || ${process.execPath} -p "require('./ready.json').pid"); wait; exit $rc`;
    const r = await inNamespace(script, app, 150_000);
    const result = r.stdout.trim().split('\n').pop() ?? '';
    expect({ result, code: r.code }).toEqual({
      result: JSON.stringify({
        ok: true,
        steps: ['data-first: streaming', 'data-first: data-only', 'data-first: resumed', 'client: streaming', 'client: data-only', 'client: resumed'],
      }),
      code: 0,
    });
    for (const trace of ['app-trace.txt', 'viewer-trace.txt']) {
      const addresses = tracedAddresses(readFileSync(join(app, trace), 'utf8'));
      expect(addresses.filter((a) => !loopback(a))).toEqual([]);
      expect(addresses).toContain('127.0.0.1'); // the trace did see the media and signalling
    }
  }, 600_000);
});
