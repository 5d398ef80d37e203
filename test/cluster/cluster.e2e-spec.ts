/**
 * The compose topology without a container engine: redis-server, haproxy with
 * deploy/haproxy.cfg, and two processes of the built service (`node dist/main.js`, as in
 * the image), all on 127.0.0.1. Viewers are werift peers that reach the service only
 * through haproxy and reconnect the way the client library does: when their socket comes
 * back (socket.io-client reconnects through the balancer, to whichever node is alive), they
 * start a new session with the same options.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import type { ClientSocket } from '../../src/client/streaming-client';
import { HAPROXY, Proc, Procs, REDIS_SERVER, describeWithTools, freePort, sleep, until } from '../helpers/cluster-tools';
import { WeriftViewer, request } from '../helpers/werift-viewer';

const ROOT = join(__dirname, '..', '..');
const TOKEN = 'cluster-test-admin-token-0123';

/** A viewer behind the balancer that restarts its session whenever its socket reconnects. */
class ClusterViewer {
  readonly socket: ClientSocket;
  node?: string;
  current?: WeriftViewer;
  /** Nodes it streamed from, in order. */
  readonly history: string[] = [];
  restarts = 0;
  private started = false;
  private restarting?: Promise<void>;

  constructor(url: string, transport: 'websocket' | 'polling' = 'websocket') {
    this.socket = io(url, {
      transports: [transport],
      forceNew: true,
      reconnectionDelay: 250,
      reconnectionDelayMax: 1_000,
      randomizationFactor: 0.3,
      // Node's engine.io-client keeps haproxy's sticky cookie only with this.
      withCredentials: true,
    });
    this.socket.on('server:hello', (e) => (this.node = e.node));
    this.socket.on('disconnect', () => (this.node = undefined));
    this.socket.on('connect', () => {
      if (this.started) this.restarting = this.restart();
    });
  }

  async connect(): Promise<void> {
    await until('socket connected', () => this.socket.connected && this.node !== undefined, 10_000, 20);
  }

  async start(): Promise<void> {
    this.started = true;
    await this.startSession();
  }

  private async startSession(): Promise<void> {
    const node = this.node!;
    const v = new WeriftViewer(this.socket);
    this.current = v;
    await v.startDataFirst();
    await v.waitForState('streaming');
    await v.waitForPackets(5);
    this.history.push(node);
  }

  /** As the client library: restart with backoff while the socket stays up. */
  private async restart(): Promise<void> {
    this.restarts++;
    await this.current?.close();
    this.current = undefined;
    for (let i = 0; i < 6 && this.socket.connected; i++) {
      try {
        await until('hello', () => this.node !== undefined, 2_000, 20);
        return await this.startSession();
      } catch {
        await (this.current as WeriftViewer | undefined)?.close();
        await sleep(250 * 2 ** i);
      }
    }
  }

  async close(): Promise<void> {
    this.started = false;
    await this.restarting?.catch(() => undefined);
    await this.current?.close();
    this.socket.disconnect();
  }
}

const describeViewer = (v: ClusterViewer) => ({
  node: v.node,
  connected: v.socket.connected,
  history: v.history,
  restarts: v.restarts,
  state: v.current?.state,
  states: v.current?.states.map((s) => `${s.state}:${s.reason ?? ''}`),
  errors: v.current?.errors.map((e) => e.message),
});

describeWithTools('cluster topology: haproxy + 2 nodes + Redis on loopback', [REDIS_SERVER, HAPROXY], () => {
  jest.setTimeout(120_000);
  const procs = new Procs();
  const out = join(procs.dir, 'app');
  const nodes: Record<string, { port: number; proc?: Proc; portMin: number }> = {};
  let redisPort: number;
  let lb: string;
  const viewers: ClusterViewer[] = [];

  function startNode(name: string): Proc {
    const n = nodes[name];
    const p = procs.spawn(name, process.execPath, [join(out, 'dist', 'main.js')], {
      PORT: String(n.port),
      HOST: '127.0.0.1',
      NODE_ID: name,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      ADMIN_TOKEN: TOKEN,
      ICE_ANNOUNCED_ADDRESSES: '127.0.0.1',
      ICE_BIND_ADDRESS: '127.0.0.1',
      ICE_LOOPBACK_ONLY: 'true',
      ICE_PORT_MIN: String(n.portMin),
      ICE_PORT_MAX: String(n.portMin + 49),
      LOG_LEVEL: 'warn',
    });
    n.proc = p;
    return p;
  }

  async function nodeUp(name: string): Promise<void> {
    const n = nodes[name];
    await until(
      `${name} healthy`,
      async () => {
        if (n.proc!.child.exitCode !== null) throw new Error(`${name} exited: ${n.proc!.output.join('')}`);
        return (await fetch(`http://127.0.0.1:${n.port}/health/live`)).ok;
      },
      20_000,
      100,
    );
  }

  /** The cluster's answer, through the balancer. */
  async function viewers$(): Promise<{ sources: Record<string, number>; nodes: { node: string; sources: Record<string, number> }[]; complete: boolean }> {
    const res = await fetch(`${lb}/admin/viewers`, { headers: { authorization: `Bearer ${TOKEN}` } });
    if (!res.ok) throw new Error(`admin/viewers: ${res.status}`);
    return res.json();
  }
  const total = (c: { sources: Record<string, number> }) => Object.values(c.sources).reduce((a, b) => a + b, 0);
  const onNode = (c: { nodes: { node: string; sources: Record<string, number> }[] }, node: string) =>
    Object.values(c.nodes.find((n) => n.node === node)?.sources ?? {}).reduce((a, b) => a + b, 0);

  async function addViewer(transport: 'websocket' | 'polling' = 'websocket'): Promise<ClusterViewer> {
    const v = new ClusterViewer(lb, transport);
    viewers.push(v);
    await v.connect();
    await v.start();
    return v;
  }

  beforeAll(async () => {
    // Compile the service as the image does (not `nest build`: it would empty dist/, which
    // the other tests use), next to links to what it reads at run time. `--noCheck`: emit
    // only; the suite type-checks once (`npm run typecheck`).
    mkdirSync(out, { recursive: true });
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json'), '--noCheck', '--outDir', join(out, 'dist')], {
      encoding: 'utf8',
    });
    if (tsc.status !== 0 && !/error TS/.test(tsc.stdout)) throw new Error(`tsc: ${tsc.stdout}${tsc.stderr}`);
    for (const d of ['node_modules', 'assets', 'public', 'package.json']) symlinkSync(join(ROOT, d), join(out, d));

    redisPort = await freePort();
    await procs.startRedis(redisPort);
    const base = 41_000 + Math.floor(Math.random() * 150) * 100;
    nodes.app1 = { port: await freePort(), portMin: base };
    nodes.app2 = { port: await freePort(), portMin: base + 50 };
    startNode('app1');
    startNode('app2');
    await Promise.all([nodeUp('app1'), nodeUp('app2')]);
    const lbPort = await freePort();
    await procs.startHaproxy(lbPort, [
      { name: 'app1', port: nodes.app1.port },
      { name: 'app2', port: nodes.app2.port },
    ]);
    lb = `http://127.0.0.1:${lbPort}`;
  });

  afterAll(async () => {
    for (const v of viewers) await v.close().catch(() => undefined);
    await procs.stopAll();
  });

  it('spreads viewers over both nodes, all get video, and the cluster counts them all', async () => {
    for (let i = 0; i < 4; i++) await addViewer();
    const by = (node: string) => viewers.filter((v) => v.node === node).length;
    expect(by('app1')).toBeGreaterThan(0);
    expect(by('app2')).toBeGreaterThan(0);
    for (const v of viewers) expect(v.current!.packets).toBeGreaterThanOrEqual(5);

    const c = await viewers$();
    expect(c.complete).toBe(true);
    expect(total(c)).toBe(4);
    expect(onNode(c, 'app1')).toBe(by('app1'));
    expect(onNode(c, 'app2')).toBe(by('app2'));
    // And what a client sees in `sources:list`, whichever node it asks: the cluster total.
    for (const v of viewers.slice(0, 2)) {
      const res = await request<{ sources: { id: string; viewers: number }[] }>(v.socket, 'sources:list', {});
      expect(res.ok).toBe(true);
      const listed = (res as unknown as { sources: { id: string; viewers: number }[] }).sources;
      expect(listed.reduce((n, x) => n + x.viewers, 0)).toBe(4);
    }
  });

  it('long-polling works through the balancer (sticky cookie)', async () => {
    const v = await addViewer('polling');
    expect(v.current!.state).toBe('streaming');
    expect(v.socket.io.engine.transport.name).toBe('polling');
    await v.close();
    viewers.splice(viewers.indexOf(v), 1);
  });

  it('a node killed with SIGKILL: its viewers come back on the other node within seconds', async () => {
    const victims = viewers.filter((v) => v.node === 'app1');
    const survivors = viewers.filter((v) => v.node === 'app2');
    const killedAt = Date.now();
    await procs.kill(nodes.app1.proc!, 'SIGKILL');
    await until(
      'every viewer of app1 streaming from app2',
      () => victims.every((v) => v.node === 'app2' && v.history.at(-1) === 'app2' && v.current?.state === 'streaming'),
      15_000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(victims.map(describeViewer))}`);
    });
    const tookMs = Date.now() - killedAt;
    console.log(`viewers of the killed node streaming again from the other after ${tookMs} ms`);
    expect(tookMs).toBeLessThan(8_000);
    for (const v of victims) {
      const before = v.current!.packets;
      await v.current!.waitForPackets(before + 10);
    }
    // The others did not notice.
    for (const v of survivors) expect(v.restarts).toBe(0);
    const c = await until('a count without the dead node', async () => {
      const x = await viewers$();
      return x.nodes.length === 1 ? x : undefined;
    });
    expect(total(c)).toBe(viewers.length);
    expect(onNode(c, 'app2')).toBe(viewers.length);
  });

  it('Redis restarting does not take the service down', async () => {
    const redis = procs.all.find((p) => p.name.startsWith('redis') && p.child.exitCode === null && p.child.signalCode === null)!;
    await procs.kill(redis, 'SIGKILL');
    expect((await fetch(`${lb}/health/live`)).status).toBe(200);
    const c = await viewers$();
    expect(c.nodes.map((n) => n.node)).toEqual(['app2']);
    // A new viewer still gets video, the old ones keep theirs.
    const v = await addViewer();
    expect(v.node).toBe('app2');
    for (const w of viewers) await w.current!.waitForPackets(w.current!.packets + 5);

    await procs.startRedis(redisPort);
    // Both nodes again once app1 is back (it joins through Redis).
    startNode('app1');
    await nodeUp('app1');
    await until('app1 and app2 in the cluster answer', async () => {
      const x = await viewers$();
      return x.complete && x.nodes.length === 2;
    }, 20_000, 250);
  });

  it('a node that drains (SIGTERM) tells its clients, which come back on the other node', async () => {
    const onApp2 = viewers.filter((v) => v.node === 'app2');
    const drained = onApp2.map((v) => new Promise<boolean>((r) => {
      v.socket.once('server:draining', () => r(true));
      setTimeout(() => r(false), 15_000).unref();
    }));
    const startedAt = Date.now();
    nodes.app2.proc!.child.kill('SIGTERM');
    expect(await Promise.all(drained)).toEqual(onApp2.map(() => true));
    await until(
      'every viewer of app2 streaming from app1',
      () => onApp2.every((v) => v.node === 'app1' && v.history.at(-1) === 'app1' && v.current?.state === 'streaming'),
      15_000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(onApp2.map(describeViewer))}`);
    });
    console.log(`viewers of the drained node streaming again from the other after ${Date.now() - startedAt} ms`);
    // Nest re-raises the signal once it has closed everything: the exit is by SIGTERM.
    const child = nodes.app2.proc!.child;
    await until('app2 to exit', () => child.exitCode !== null || child.signalCode !== null, 10_000);
    expect(child.exitCode === 0 || child.signalCode === 'SIGTERM').toBe(true);
  });
});
