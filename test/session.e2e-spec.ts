import { SessionService } from '../src/session/session.service';
import { appPerTest, sessionClosed } from './helpers/app';
import { WeriftViewer, ok } from './helpers/werift-viewer';
import { until } from './helpers/wait';

describe('a werift viewer watching the default source', () => {
  const fx = appPerTest<WeriftViewer>();
  const { viewers } = fx;

  async function viewer(): Promise<WeriftViewer> {
    const v = new WeriftViewer(await fx.t.connect());
    viewers.push(v);
    return v;
  }

  it('gets video and a working data channel when it offers (recvonly + data channel)', async () => {
    const v = await viewer();
    await v.startWithOffer();
    // To our actpass offer the server answers passive, so we (like a browser) start DTLS
    // at once instead of werift waiting 100 ms as the DTLS client.
    expect(v.pc.remoteDescription!.sdp).toMatch(/a=setup:passive/);
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    // The cached group of pictures arrives first, so a keyframe is among the first packets.
    expect(v.keyframes).toBeGreaterThan(0);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    const reply = await v.roundTrip(JSON.stringify({ type: 'ping', id: 42 }), (m) => m.includes('pong'));
    expect(JSON.parse(reply)).toEqual({ type: 'pong', id: 42 });
  });

  it('gets video when it offers only a data channel: the server adds the video right after', async () => {
    const v = await viewer();
    await v.startDataFirst();
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    expect(v.keyframes).toBeGreaterThan(0);
    // The data channel is the first m-line (the BUNDLE tag); the video came second.
    const sdp = v.pc.remoteDescription!.sdp;
    expect(sdp.indexOf('m=application')).toBeLessThan(sdp.indexOf('m=video'));
    expect(v.states.map((s) => s.state)).toEqual(['streaming']);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('gets video and a working data channel when the server offers', async () => {
    const v = await viewer();
    await v.startWithServerOffer();
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    expect(v.keyframes).toBeGreaterThan(0);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('session:close ends the session on the server and releases it', async () => {
    const v = await viewer();
    await v.startWithOffer();
    await v.waitForState('streaming');
    const sessions = fx.t.app.get(SessionService);
    expect(sessions.count).toBe(1);
    await ok(v.socket, 'session:close', { sessionId: v.sessionId });
    const closed = await v.waitForState('closed');
    expect(closed.reason).toBe('client-closed');
    expect(sessions.count).toBe(0);
  });

  it('closes the sessions of a socket that disconnects', async () => {
    const v = await viewer();
    await v.startWithServerOffer();
    await v.waitForState('streaming');
    const sessions = fx.t.app.get(SessionService);
    const closed = sessionClosed(sessions, v.sessionId);
    v.socket.disconnect();
    expect(await closed).toMatchObject({ reason: 'client-disconnected', ownerId: expect.any(String) });
    expect(sessions.count).toBe(0);
  });

  it('fans one encoding out to several viewers at once', async () => {
    const vs = await Promise.all([viewer(), viewer(), viewer()]);
    await Promise.all(vs.map((v, i) => (i % 2 ? v.startWithOffer() : v.startWithServerOffer())));
    await Promise.all(vs.map((v) => v.waitForPackets(30)));
    expect(fx.t.app.get(SessionService).count).toBe(3);
  });
});

