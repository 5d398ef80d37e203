/**
 * Two nodes in this process, each a full application with socket.io on the Redis adapter
 * (a real redis-server on loopback): cluster-wide viewer counts, the operator endpoints
 * reaching the node that owns a session, and Redis going away and coming back.
 */
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { io } from 'socket.io-client';
import { AppModule } from '../../src/app.module';
import { ClusterService } from '../../src/cluster/cluster.service';
import { RedisIoAdapter } from '../../src/cluster/redis-io.adapter';
import type { ClientSocket } from '../../src/client/streaming-client';
import { MediaSource } from '../../src/media/media-source';
import { LOOPBACK_ONLY } from '../helpers/app';
import { Procs, REDIS_SERVER, describeWithTools, freePort, until } from '../helpers/cluster-tools';
import { WeriftViewer } from '../helpers/werift-viewer';

const TOKEN = 'test-admin-token-0123456789';

interface Node {
  id: string;
  app: INestApplication;
  url: string;
}

describeWithTools('cluster service over Redis (two nodes in-process)', [REDIS_SERVER], () => {
  const procs = new Procs();
  let redisPort: number;
  const nodes: Node[] = [];
  const sockets: ClientSocket[] = [];
  const viewers: WeriftViewer[] = [];

  async function startNode(id: string, adminToken?: string): Promise<Node> {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ session: LOOPBACK_ONLY, cluster: { nodeId: id, adminToken, requestTimeoutMs: 1_000 } })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: ['error'] });
    app.useWebSocketAdapter(new RedisIoAdapter(app, { url: `redis://127.0.0.1:${redisPort}`, requestsTimeoutMs: 1_000 }).connect());
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const node = { id, app, url: `http://127.0.0.1:${port}` };
    nodes.push(node);
    return node;
  }

  async function viewer(node: Node): Promise<WeriftViewer> {
    const socket: ClientSocket = io(node.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(socket);
    const hello = new Promise<{ node: string }>((r) => socket.once('server:hello', r));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    expect((await hello).node).toBe(node.id);
    const v = new WeriftViewer(socket);
    viewers.push(v);
    await v.startDataFirst();
    await v.waitForState('streaming');
    await v.waitForPackets(5);
    return v;
  }

  const admin = (node: Node, method: string, path: string, token = TOKEN) =>
    fetch(`${node.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    redisPort = await freePort();
    await procs.startRedis(redisPort);
  });

  afterAll(async () => {
    for (const v of viewers) await v.close();
    for (const s of sockets) s.disconnect();
    for (const n of nodes) await n.app.close();
    await procs.stopAll();
  });

  it('counts viewers across nodes, and the operator reaches the node that owns a session', async () => {
    const a = await startNode('node-a', TOKEN);
    const b = await startNode('node-b', TOKEN);
    const source = a.app.get(MediaSource).id;
    // Both adapters subscribed: a's request reaches b.
    await until('both nodes see each other', async () => (await a.app.get(ClusterService).viewerCounts()).complete && (await a.app.get(ClusterService).viewerCounts()).nodes.length === 2);

    const [a1, a2, b1] = [await viewer(a), await viewer(a), await viewer(b)];
    for (const n of [a, b]) {
      const counts = await n.app.get(ClusterService).viewerCounts();
      expect(counts.complete).toBe(true);
      expect(counts.sources[source]).toBe(3);
      expect(counts.nodes.map((x) => [x.node, x.sources[source]]).sort()).toEqual([['node-a', 2], ['node-b', 1]]);
    }
    // The HTTP endpoint, with and without the token.
    expect((await admin(a, 'GET', '/admin/viewers', '')).status).toBe(401);
    expect((await admin(a, 'GET', '/admin/viewers', 'wrong-token-wrong-token')).status).toBe(401);
    const res = await admin(b, 'GET', '/admin/viewers');
    expect(res.status).toBe(200);
    expect((await res.json()).sources[source]).toBe(3);

    // End b1's session from node a: node b owns it and closes it.
    const end = await admin(a, 'DELETE', `/admin/sessions/${b1.sessionId}`);
    expect(end.status).toBe(200);
    expect(await end.json()).toMatchObject({ found: true, node: 'node-b' });
    await b1.waitForState('closed');
    expect(b1.states.at(-1)!.reason).toBe('ended-by-operator');
    expect((await admin(a, 'DELETE', `/admin/sessions/${b1.sessionId}`)).status).toBe(404);

    // Stop every viewer of the source, asked on node b: a1 and a2 live on node a.
    const b2 = await viewer(b);
    const stop = await admin(b, 'POST', `/admin/sources/${source}/stop-video`);
    expect(stop.status).toBe(200);
    expect(await stop.json()).toMatchObject({ stopped: 3, complete: true });
    for (const v of [a1, a2, b2]) await v.waitForState('data-only');
    expect(await a1.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    expect((await a.app.get(ClusterService).viewerCounts()).sources[source]).toBe(3);
  });

  it('answers 404 on /admin when no token is configured', async () => {
    const c = await startNode('node-c');
    expect((await admin(c, 'GET', '/admin/viewers')).status).toBe(404);
  });

  it('keeps serving while Redis is down, and is a cluster again once it is back', async () => {
    const [a] = nodes;
    const redis = procs.all.find((p) => p.name.startsWith('redis'))!;
    await procs.kill(redis);
    // The node answers for itself, promptly, and says the answer is partial.
    const started = Date.now();
    const counts = await a.app.get(ClusterService).viewerCounts();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(counts.complete).toBe(false);
    expect(counts.nodes).toHaveLength(1);
    // New sessions still work on both nodes.
    await viewer(a);
    await viewer(nodes[1]);
    expect((await fetch(`${a.url}/health/live`)).status).toBe(200);

    await procs.startRedis(redisPort);
    await until(
      'a complete cluster answer after Redis restarted',
      async () => {
        const c = await a.app.get(ClusterService).viewerCounts();
        return c.complete && c.nodes.length === 3;
      },
      15_000,
      250,
    );
  });
});
