/**
 * Issue #10, point 8: a viewer whose network goes silent while its socket.io connection
 * stays up is released within 6 s (reason peer-silent), not after ICE consent expires.
 * The viewer is a werift peer whose UDP sockets stop sending and receiving: nothing of it
 * reaches the server any more, as when its network drops the packets.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { SessionService } from '../../src/session/session.service';
import { WeriftViewer } from '../helpers/werift-viewer';
import { HardenedApp, startHardenedApp } from './app';

/** Every UDP socket of the viewer's peer connection drops what it sends and receives. */
function silence(v: WeriftViewer): number {
  let n = 0;
  for (const t of v.pc.iceTransports) {
    for (const p of (t.connection as unknown as { protocols: { transport?: { socket?: UdpSocket } }[] }).protocols) {
      const socket = p.transport?.socket;
      if (!socket) continue;
      socket.removeAllListeners('message');
      (socket as unknown as { send: () => void }).send = () => undefined;
      n++;
    }
  }
  return n;
}

describe('a viewer whose network goes silent', () => {
  let t: HardenedApp;
  const viewers: WeriftViewer[] = [];

  beforeEach(async () => {
    t = await startHardenedApp();
  });

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await t.close();
  });

  async function streamingViewer(): Promise<WeriftViewer> {
    const v = new WeriftViewer(await t.connect());
    viewers.push(v);
    await v.startDataFirst();
    await v.waitForState('streaming');
    await v.waitForPackets(5);
    return v;
  }

  it('is released within 6 s with reason peer-silent; its socket and a bystander stay', async () => {
    const bystander = await streamingViewer();
    const v = await streamingViewer();
    const sessions = t.app.get(SessionService);
    expect(sessions.count).toBe(2);
    // A streaming viewer that stays quiet on the signalling side is not released.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(v.state).toBe('streaming');
    expect(silence(v)).toBeGreaterThan(0);
    const t0 = Date.now();
    const closed = await v.waitForState('closed', 8_000);
    const took = Date.now() - t0;
    expect(closed.reason).toBe('peer-silent');
    expect(took).toBeLessThan(6_000);
    expect(v.socket.connected).toBe(true);
    expect(sessions.count).toBe(1);
    const n = bystander.packets;
    await bystander.waitForPackets(n + 20);
    expect(bystander.state).toBe('streaming');
  }, 40_000);

  it('a data-only viewer (no video, so no RTCP) is not released while it is alive', async () => {
    const v = await streamingViewer();
    await v.serial(async () => undefined);
    const res = await (v.socket.timeout(5_000) as any).emitWithAck('session:stop-video', { sessionId: v.sessionId });
    expect(res.ok).toBe(true);
    await v.waitForState('data-only');
    await new Promise((r) => setTimeout(r, 8_000));
    expect(v.state).toBe('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  }, 40_000);
});
