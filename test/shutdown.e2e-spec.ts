import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import type { ClientSocket } from '../src/client/streaming-client';
import { WeriftViewer } from './helpers/werift-viewer';

/**
 * The standalone service in a child process (the TypeScript sources, transpiled on load by
 * test/helpers/ts-register.js: nothing to build first), a viewer streaming from it, then
 * SIGTERM: the viewer is told (`closed`, `server-shutdown`) and the process exits 0 in time.
 */

const ROOT = join(__dirname, '..');
const SHUTDOWN_TIMEOUT_MS = 5_000;

interface Child {
  proc: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function startService(env: Record<string, string>): Promise<Child> {
  const proc = spawn(process.execPath, ['-r', './test/helpers/ts-register.js', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NO_COLOR: '1',
      PORT: '0',
      HOST: '127.0.0.1',
      // Every ICE packet stays on loopback: only 127.0.0.1 is gathered, bound and paired.
      ICE_ANNOUNCED_ADDRESSES: '127.0.0.1',
      ICE_BIND_ADDRESS: '127.0.0.1',
      ICE_LOOPBACK_ONLY: '1',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      DRAIN_NOTICE_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/[\w.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1].replace('localhost', '127.0.0.1'), output: () => out, exited });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}) before listening:\n${out}`));
    });
  });
}

async function connect(url: string, path?: string): Promise<ClientSocket> {
  const socket: ClientSocket = io(url, { path, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

describe('graceful shutdown of the standalone service', () => {
  let child: Child | undefined;
  const sockets: ClientSocket[] = [];
  const viewers: WeriftViewer[] = [];

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    for (const s of sockets.splice(0)) s.disconnect();
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    child = undefined;
  });

  it('SIGTERM: the viewer is told closed/server-shutdown, and the process exits 0 in time', async () => {
    child = await startService({ SOCKET_PATH: '/rtc' });
    const live = await fetch(`${child.url}/health/live`);
    expect(live.status).toBe(200);
    expect((await fetch(`${child.url}/health/ready`)).status).toBe(200);

    const socket = await connect(child.url, '/rtc');
    sockets.push(socket);
    const viewer = new WeriftViewer(socket);
    viewers.push(viewer);
    await viewer.startWithOffer();
    await viewer.waitForState('streaming');
    await viewer.waitForPackets(10);
    let disconnectedAt = 0;
    let closedAt = 0;
    socket.once('disconnect', () => (disconnectedAt = Date.now()));
    socket.on('session:state', (e) => {
      if (e.state === 'closed') closedAt = Date.now();
    });

    const sentAt = Date.now();
    child.proc.kill('SIGTERM');
    const closed = await viewer.waitForState('closed', SHUTDOWN_TIMEOUT_MS);
    expect(closed).toEqual({ sessionId: viewer.sessionId, state: 'closed', reason: 'server-shutdown' });
    const { code, signal, at } = await child.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(at - sentAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    // The state arrived before the socket was closed (it was told, not left to infer it).
    expect(disconnectedAt).toBeGreaterThan(0);
    expect(closedAt).toBeGreaterThan(0);
    expect(closedAt).toBeLessThanOrEqual(disconnectedAt);
  });

  it('refuses an invalid environment with one error that lists every bad variable, exit code 2', async () => {
    const proc = spawn(process.execPath, ['-r', './test/helpers/ts-register.js', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: 'x', MAX_SESSIONS: '0', SOCKET_PATH: 'nope', SHUTDOWN_TIMEOUT_MS: '-1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(2);
    for (const name of ['PORT', 'MAX_SESSIONS', 'SOCKET_PATH', 'SHUTDOWN_TIMEOUT_MS']) expect(err).toContain(name);
    expect(err.match(/invalid environment/g)).toHaveLength(1);
  });
});
