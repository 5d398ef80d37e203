import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { io } from 'socket.io-client';
import type { ClientSocket } from '../src/client/streaming-client';
import { ErrorCode, MediaSource, SessionService } from '../src';
import { CameraSource, HostAppModule, HostChat, authorizeCalls } from './host-app/host-app.module';
import { WeriftViewer, ok, request } from './helpers/werift-viewer';

/** The example host application (test/host-app) serving its own source to werift viewers. */
describe('embedded in a host Nest application (forRootAsync)', () => {
  let app: INestApplication;
  let url: string;
  const sockets: ClientSocket[] = [];
  const viewers: WeriftViewer[] = [];

  beforeEach(async () => {
    authorizeCalls.length = 0;
    const moduleRef = await Test.createTestingModule({ imports: [HostAppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    for (const s of sockets.splice(0)) s.disconnect();
    await app.close();
  });

  function socket(namespace: string, auth?: Record<string, unknown>): ClientSocket {
    const s: ClientSocket = io(url + namespace, { auth, transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(s);
    return s;
  }

  function connected(s: ClientSocket): Promise<void> {
    return new Promise((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    });
  }

  function refused(s: ClientSocket): Promise<Error & { data?: unknown }> {
    return new Promise((resolve, reject) => {
      s.once('connect', () => reject(new Error('connected, but should have been refused')));
      s.once('connect_error', resolve);
    });
  }

  async function viewer(): Promise<WeriftViewer> {
    const s = socket('/streaming', { token: 'valid-token' });
    await connected(s);
    const v = new WeriftViewer(s);
    viewers.push(v);
    return v;
  }

  it("serves the host's own source to a werift viewer on the host's namespace, beside the host's gateway", async () => {
    // The host's own gateway answers on the default namespace of the same port.
    const hostSocket = socket('');
    await connected(hostSocket);
    const untyped = hostSocket.timeout(5000) as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> };
    expect(await untyped.emitWithAck('host:hello', {})).toEqual({ ok: true, from: 'host' });
    // Ours is not on the default namespace...
    expect(await request(hostSocket, 'config:get', {}, 500).catch((e: Error) => e.message)).toMatch(/timed out/);

    // ...but on /streaming, with the host's ICE servers for clients.
    const v = await viewer();
    expect(await ok(v.socket, 'config:get', {})).toEqual({
      ok: true,
      iceServers: [{ urls: 'turn:turn.example.invalid:3478', username: 'u', credential: 'p' }],
    });
    expect(app.get(MediaSource)).toBeInstanceOf(CameraSource);
    expect((app.get(MediaSource) as CameraSource).config.namespace).toBe('/streaming'); // injected by Nest

    await v.startWithOffer('camera');
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    expect(v.keyframes).toBeGreaterThanOrEqual(1);
    expect(app.get(SessionService).count).toBe(1);

    // The health endpoints come with the module.
    expect(await (await fetch(`${url}/health/live`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${url}/health/ready`)).json()).toEqual({ status: 'ready', sessions: 1 });
  });

  it('runs the auth hook on the handshake: a good token connects, a bad or missing one is refused with the reason', async () => {
    await viewer();
    const seen = authorizeCalls[authorizeCalls.length - 1];
    expect(seen.auth).toEqual({ token: 'valid-token' });
    expect(seen.address).toMatch(/127\.0\.0\.1/);
    expect(seen.headers.host).toBe(url.replace('http://', ''));

    const bad = await refused(socket('/streaming', { token: 'stolen' }));
    expect(bad.message).toBe('invalid token');
    expect(bad.data).toEqual({ code: ErrorCode.UNAUTHORIZED, message: 'invalid token' });
    const none = await refused(socket('/streaming'));
    expect(none.data).toEqual({ code: ErrorCode.UNAUTHORIZED, message: 'invalid token' });
    // The host's own namespace is not guarded by our hook.
    await connected(socket(''));
  });

  it("lets the host hear viewers' data-channel messages, answer one viewer, and broadcast to every viewer of a source", async () => {
    const chat = app.get(HostChat);
    const a = await viewer();
    const b = await viewer();
    await a.startWithOffer('camera');
    await b.startWithOffer();
    await Promise.all([a.waitForChannelOpen(), b.waitForChannelOpen()]);

    const reply = await a.roundTrip('hello host', (m) => m.startsWith('welcome'));
    expect(reply).toBe(`welcome ${a.sessionId}`);
    expect(chat.received).toContainEqual({ sessionId: a.sessionId, data: 'hello host' });
    expect(b.messages).not.toContain(reply); // only the one viewer

    expect(chat.announce('the show starts')).toBe(2);
    for (const v of [a, b]) {
      await new Promise<void>((resolve, reject) => {
        const end = Date.now() + 5000;
        const check = () => (v.messages.includes('the show starts') ? resolve() : Date.now() > end ? reject(new Error('no broadcast')) : setTimeout(check, 20));
        check();
      });
    }
    expect(app.get(SessionService).broadcast('no-such-source', 'x')).toBe(0);
  });
});
