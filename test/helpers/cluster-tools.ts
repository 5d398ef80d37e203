/**
 * Real processes for the cluster tests: redis-server and haproxy (Debian packages), and
 * node processes of the built service. Everything listens on 127.0.0.1; every process is
 * tracked by pid and killed by `stopAll()`.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './wait';

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server';
export const HAPROXY = process.env.HAPROXY_PATH ?? '/usr/sbin/haproxy';

function executable(path: string): boolean {
  return spawnSync('sh', ['-c', `test -x "${path}"`]).status === 0;
}

/**
 * `describe` when the given programs exist. Without them: in CI (process.env.CI set) the
 * suite fails loudly; elsewhere it is skipped with a warning.
 */
export function describeWithTools(name: string, tools: string[], fn: () => void): void {
  const missing = tools.filter((t) => !executable(t));
  if (missing.length === 0) return describe(name, fn);
  const msg = `missing ${missing.join(', ')} (Debian: apt-get install redis-server haproxy)`;
  if (process.env.CI) {
    describe(name, () => {
      it('has its tools', () => {
        throw new Error(msg);
      });
    });
  } else {
    console.warn(`skipping "${name}": ${msg}`);
    describe.skip(name, fn);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export { sleep, until } from './wait';

/**
 * Sends one inline command to Redis on 127.0.0.1 and resolves with its raw reply once
 * `complete(reply)` holds (default: a whole line); rejects on a connection error or timeout.
 */
export function redisCommand(port: number, line: string, complete = (reply: string) => reply.endsWith('\r\n'), timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let reply = '';
    const t = setTimeout(() => (s.destroy(), reject(new Error(`redis: no reply to ${line}`))), timeoutMs);
    s.once('error', (err) => (clearTimeout(t), reject(err)));
    s.once('connect', () => s.write(`${line}\r\n`));
    s.on('data', (d) => {
      reply += d.toString();
      if (!complete(reply)) return;
      clearTimeout(t);
      s.destroy();
      resolve(reply);
    });
  });
}

/** One line-protocol exchange with Redis (PING → +PONG). */
export function redisPing(port: number, timeoutMs = 1_000): Promise<boolean> {
  return redisCommand(port, 'PING', undefined, timeoutMs).then(
    (reply) => reply.startsWith('+PONG'),
    () => false,
  );
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', () => resolve(false));
    s.once('connect', () => (s.destroy(), resolve(true)));
  });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/** Starts processes and remembers them, so that a test can kill each by pid at the end. */
export class Procs {
  readonly all: Proc[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'webrtc-cluster-'));

  spawn(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (d: Buffer) => {
      output.push(d.toString());
      if (output.length > 400) output.splice(0, 100);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const p = { name, child, output, exited };
    this.all.push(p);
    return p;
  }

  async startRedis(port: number): Promise<Proc> {
    const p = this.spawn(`redis:${port}`, REDIS_SERVER, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes',
    ]);
    await until(`redis on ${port}`, async () => (p.child.exitCode === null ? redisPing(port) : Promise.reject(new Error(p.output.join('')))), 5_000);
    return p;
  }

  /** haproxy with deploy/haproxy.cfg, its addresses and ports replaced for loopback. */
  async startHaproxy(lbPort: number, nodes: { name: string; port: number }[]): Promise<Proc> {
    const cfg = haproxyConfig(lbPort, nodes);
    const file = join(this.dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    const check = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`haproxy -c: ${check.stdout}${check.stderr}`);
    const p = this.spawn('haproxy', HAPROXY, ['-db', '-f', file]);
    await until(`haproxy on ${lbPort}`, async () => (p.child.exitCode === null ? tcpOpen(lbPort) : Promise.reject(new Error(p.output.join('')))), 5_000);
    return p;
  }

  /** SIGKILL, and wait for the exit. */
  async kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill(signal);
    let t: NodeJS.Timeout | undefined;
    await Promise.race([p.exited, new Promise((r) => (t = setTimeout(r, 5_000)))]);
    clearTimeout(t);
  }

  async stopAll(): Promise<void> {
    for (const p of [...this.all].reverse()) await this.kill(p);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * deploy/haproxy.cfg for loopback: the frontend's port, and one `server` line per node
 * (compose names them `app1`, `app2` on port 3000; here they are 127.0.0.1:<port>).
 */
export function haproxyConfig(lbPort: number, nodes: { name: string; port: number }[]): string {
  const src = readFileSync(join(__dirname, '..', '..', 'deploy', 'haproxy.cfg'), 'utf8');
  const lines = src.split('\n');
  const out: string[] = [];
  let serversDone = false;
  let inResolvers = false;
  for (const line of lines) {
    // No DNS here (the nodes are IP literals): drop the `resolvers` section.
    if (/^resolvers\s/.test(line)) inResolvers = true;
    else if (/^\S/.test(line)) inResolvers = false;
    if (inResolvers) continue;
    if (/^\s*bind\s/.test(line)) {
      out.push(line.replace(/bind\s+\S+/, `bind 127.0.0.1:${lbPort}`));
    } else if (/^\s*server\s/.test(line)) {
      if (serversDone) continue;
      serversDone = true;
      const indent = /^\s*/.exec(line)![0];
      const opts = line.trim().split(/\s+/).slice(3).join(' ').replace(/\s*(resolvers|init-addr)\s+\S+/g, '');
      for (const n of nodes) out.push(`${indent}server ${n.name} 127.0.0.1:${n.port} ${opts.replace(/cookie\s+\S+/, `cookie ${n.name}`)}`);
    } else if (/^\s*(stats socket|log\s)/.test(line)) {
      continue; // no syslog, no admin socket
    } else {
      out.push(line);
    }
  }
  return out.join('\n');
}
