import { INestApplication, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { io } from 'socket.io-client';
import type { ClientSocket } from '../src/client/streaming-client';
import { Session } from '../src/session/session';
import { ErrorCode, SessionOptions, SessionService, StreamingLifecycle, StreamingModule, StreamingModuleOptions } from '../src';
import { LOOPBACK_ONLY } from './helpers/app';
import { countOwnUdpSockets } from './helpers/udp-sockets';
import { until } from './helpers/wait';
import { WeriftViewer, ok, request } from './helpers/werift-viewer';

/** StreamingModule on its own, in both forms, and what its options control. */

interface Started {
  app: INestApplication;
  url: string;
  connect(path?: string): Promise<ClientSocket>;
  viewer(path?: string): Promise<WeriftViewer>;
}

const apps: INestApplication[] = [];
const sockets: ClientSocket[] = [];
const viewers: WeriftViewer[] = [];

afterEach(async () => {
  for (const v of viewers.splice(0)) await v.close();
  for (const s of sockets.splice(0)) s.disconnect();
  for (const a of apps.splice(0)) await a.close();
});

async function start(imports: NonNullable<Parameters<typeof Test.createTestingModule>[0]['imports']>, socketPath?: string): Promise<Started> {
  const moduleRef = await Test.createTestingModule({ imports }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const connect = async (nsp = '') => {
    const s: ClientSocket = io(url + nsp, { path: socketPath, transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    });
    return s;
  };
  return {
    app,
    url,
    connect,
    async viewer(nsp = '') {
      const v = new WeriftViewer(await connect(nsp));
      viewers.push(v);
      return v;
    },
  };
}

/** Two consecutive UDP ports free on 127.0.0.1, below the ephemeral range (so no client takes them). */
async function freePortPair(): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    const bound = await Promise.all(
      [base, base + 1].map(
        (port) =>
          new Promise<ReturnType<typeof createSocket> | undefined>((resolve) => {
            const s = createSocket('udp4');
            s.once('error', () => resolve(undefined));
            s.bind(port, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    await Promise.all(bound.map((s) => s && new Promise<void>((r) => s.close(() => r()))));
    if (bound.every(Boolean)) return [base, base + 1];
  }
  throw new Error('no free UDP port pair');
}

describe('StreamingModule.forRoot', () => {
  it('attaches the gateway at the configured path and namespace, and hands clients the ICE servers werift uses', async () => {
    const iceServers = [{ urls: 'stun:127.0.0.1:3478' }]; // loopback: nothing leaves the host
    const t = await start([StreamingModule.forRoot({ ...LOOPBACK_ONLY, iceServers, gateway: { path: '/rtc', namespace: '/video' } })], '/rtc');
    expect(t.app.get(SessionOptions).iceServers).toEqual(iceServers);
    const s = await t.connect('/video');
    expect(await ok(s, 'config:get', {})).toEqual({ ok: true, iceServers });
    expect(await request(s, 'config:get', { extra: 1 })).toMatchObject({ ok: false, error: { code: ErrorCode.VALIDATION_FAILED } });
    // Nothing at the default path.
    await expect(
      new Promise<void>((resolve, reject) => {
        const d = io(t.url, { transports: ['websocket'], forceNew: true, reconnection: false });
        sockets.push(d);
        d.once('connect', resolve);
        d.once('connect_error', reject);
      }),
    ).rejects.toThrow();
    const v = await t.viewer('/video');
    await v.startWithOffer();
    await v.waitForState('streaming');
    await v.waitForPackets(5);
  });

  it('refuses a session over the per-node cap (maxSessions) and over the per-client cap with CAPACITY_EXCEEDED', async () => {
    const t = await start([StreamingModule.forRoot({ ...LOOPBACK_ONLY, maxSessions: 2, maxSessionsPerClient: 1 })]);
    const a = await t.connect();
    const b = await t.connect();
    const c = await t.connect();
    await ok(a, 'session:start', {});
    expect(await request(a, 'session:start', {})).toEqual({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED, message: 'a client may hold at most 1 sessions' },
    });
    await ok(b, 'session:start', {});
    expect(await request(c, 'session:start', {})).toEqual({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED, message: 'this server is at its session limit' },
    });
    // A closed session frees its place.
    a.disconnect();
    const sessions = t.app.get(SessionService);
    await until('the closed session is gone', () => sessions.count === 1);
    await ok(c, 'session:start', {});
  });

  it('refuses a session with CAPACITY_EXCEEDED when the UDP port range is exhausted (2 ports, 3 sessions)', async () => {
    const portRange = await freePortPair();
    const t = await start([StreamingModule.forRoot({ ...LOOPBACK_ONLY, portRange })]);
    const first = await t.viewer();
    const second = await t.viewer();
    await first.startWithOffer();
    await second.startWithOffer();
    const third = await t.connect();
    const offer = await (async () => {
      const v = new WeriftViewer(third);
      viewers.push(v);
      v.pc.addTransceiver('video', { direction: 'recvonly' });
      v.pc.createDataChannel('data');
      return v.pc.createOffer();
    })();
    expect(await request(third, 'session:start', { offer: { type: 'offer', sdp: offer.sdp } })).toEqual({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED, message: 'no free UDP port for a new session' },
    });
    expect(t.app.get(SessionService).count).toBe(2);
    // The two that got the ports stream, on those ports.
    for (const v of [first, second]) {
      await v.waitForState('streaming');
      await v.waitForPackets(5);
    }
    const sessions = t.app.get(SessionService).list();
    if (sessions.every((s) => s instanceof Session)) {
      const used = sessions.map((s) => (s as Session).peerConnection.iceTransports[0]?.connection.nominated?.localCandidate.port);
      expect(used.sort()).toEqual([...portRange]);
    } else {
      // In media workers (each with one port of the range): a socket bound on each port.
      expect(portRange.map((p) => countOwnUdpSockets(p) > 0)).toEqual([true, true]);
    }
    // Closing one frees its port for the next.
    await ok(first.socket, 'session:close', { sessionId: first.sessionId });
    // werift releases the socket asynchronously.
    await until('a port of the range released', () => portRange.some((p) => countOwnUdpSockets(p) === 0));
    const again = await t.viewer();
    await again.startWithOffer();
    await again.waitForState('streaming');
  });
});

@Injectable()
class FakeConfigService {
  get(key: 'MAX_SESSIONS'): number {
    return { MAX_SESSIONS: 1 }[key];
  }
}

@Module({ providers: [FakeConfigService], exports: [FakeConfigService] })
class FakeConfigModule {}

/** A host provider in another module that needs SessionService (reachable because isGlobal). */
@Injectable()
class Elsewhere {
  constructor(readonly sessions: SessionService) {}
}

@Module({ providers: [Elsewhere] })
class ElsewhereModule {}

describe('StreamingModule.forRootAsync', () => {
  it('builds its options with the factory from injected providers; isGlobal; health: false leaves the endpoints out', async () => {
    const factory = jest.fn(
      (config: FakeConfigService): StreamingModuleOptions => ({ ...LOOPBACK_ONLY, maxSessions: config.get('MAX_SESSIONS') }),
    );
    const t = await start([
      StreamingModule.forRootAsync({ imports: [FakeConfigModule], inject: [FakeConfigService], useFactory: factory, isGlobal: true, health: false }),
      ElsewhereModule,
    ]);
    expect(factory).toHaveBeenCalledTimes(1);
    expect(t.app.get(SessionOptions).maxSessions).toBe(1);
    expect(t.app.get(Elsewhere).sessions).toBe(t.app.get(SessionService));
    expect((await fetch(`${t.url}/health/ready`)).status).toBe(404);

    const v = await t.viewer();
    await v.startWithOffer();
    await v.waitForState('streaming');
    expect(await request(await t.connect(), 'session:start', {})).toMatchObject({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED },
    });
  });

  it('draining: ready answers 503, the viewer is told closed/server-shutdown, and new sessions are refused', async () => {
    const t = await start([StreamingModule.forRootAsync({ useFactory: async () => ({ ...LOOPBACK_ONLY }) })]);
    const v = await t.viewer();
    await v.startWithOffer();
    await v.waitForState('streaming');
    expect(await (await fetch(`${t.url}/health/ready`)).json()).toEqual({ status: 'ready', sessions: 1 });

    expect(t.app.get(StreamingLifecycle).drain()).toBe(1);
    expect(await v.waitForState('closed')).toEqual({ sessionId: v.sessionId, state: 'closed', reason: 'server-shutdown' });
    const ready = await fetch(`${t.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining', sessions: 0 });
    expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
    expect(await request(v.socket, 'session:start', {})).toEqual({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED, message: 'the server is shutting down' },
    });
  });

  it("the host's app.close() tells each viewer (closed/server-shutdown) before its socket goes", async () => {
    const t = await start([StreamingModule.forRootAsync({ useFactory: () => ({ ...LOOPBACK_ONLY }) })]);
    const v = await t.viewer();
    await v.startWithOffer();
    await v.waitForState('streaming');
    const order: string[] = [];
    v.socket.on('session:state', (e) => order.push(`${e.state}/${e.reason ?? ''}`));
    v.socket.once('disconnect', () => order.push('disconnect'));
    await apps.pop()!.close();
    await until('the socket disconnects', () => order.includes('disconnect'));
    expect(order).toEqual(['closed/server-shutdown', 'disconnect']);
  });
});
