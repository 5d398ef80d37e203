import { SessionService } from '../src/session/session.service';
import { appPerTest } from './helpers/app';
import { countOwnUdpSockets, waitForUdpSocketsAtMost } from './helpers/udp-sockets';
import { WeriftViewer, ok, request } from './helpers/werift-viewer';

describe('stop only the video, keep the data channel, resume (werift viewer)', () => {
  const fx = appPerTest<WeriftViewer>();
  const { viewers } = fx;

  async function streaming(mode: 'client' | 'server' | 'data-first'): Promise<WeriftViewer> {
    const v = new WeriftViewer(await fx.t.connect());
    viewers.push(v);
    if (mode === 'client') await v.startWithOffer();
    else if (mode === 'data-first') await v.startDataFirst();
    else await v.startWithServerOffer();
    await v.waitForState('streaming');
    await v.waitForPackets(10);
    await v.roundTrip('ping', (m) => m === 'pong');
    return v;
  }

  for (const mode of ['client', 'server', 'data-first'] as const) {
    it(`server-side stop then resume (${mode} offered first)`, async () => {
      const v = await streaming(mode);
      await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
      expect(v.state).toBe('data-only');
      const offerSdp = v.pc.remoteDescription!.sdp;
      if (mode === 'client') {
        // The video m-line is the BUNDLE tag: kept in the group, offered inactive.
        expect(offerSdp).toMatch(/m=video [1-9]/);
        expect(offerSdp).toMatch(/a=inactive/);
        expect(offerSdp).toMatch(/a=group:BUNDLE 0 1/);
      } else {
        // The data channel owns the transport: the server's re-offer rejected the video m-line.
        expect(offerSdp).toMatch(/m=video 0 /);
      }
      expect(offerSdp).toMatch(/a=setup:actpass/);
      const before = v.packets;
      expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
      await new Promise((r) => setTimeout(r, 300));
      expect(v.packets - before).toBeLessThan(5); // in-flight packets at most
      expect(v.pc.connectionState).toBe('connected');

      const keyframes = v.keyframes;
      await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
      expect(v.state).toBe('streaming');
      const resumed = v.packets;
      await v.waitForPackets(resumed + 10);
      // A keyframe at once: the cached group of pictures starts with one.
      expect(v.keyframes).toBeGreaterThan(keyframes);
      expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    });
  }

  it('client-side stop: the client stops its transceiver and re-offers', async () => {
    const v = await streaming('client');
    v.transceiver!.stop();
    const offer = await v.pc.createOffer();
    await v.pc.setLocalDescription(offer);
    const res = await ok<{ answer: { sdp: string } }>(v.socket, 'session:offer', {
      sessionId: v.sessionId,
      offer: { type: 'offer', sdp: v.pc.localDescription!.sdp },
    });
    await v.pc.setRemoteDescription(res.answer as never);
    await v.waitForState('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    expect(fx.t.app.get(SessionService).list()[0].state).toBe('data-only');
    // And the server can bring it back.
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
    await v.waitForPackets(v.packets + 10);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it("after the server parked a BUNDLE-tag video, a client offer that merely still receives does not resume it", async () => {
    const v = await streaming('client');
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    expect(v.state).toBe('data-only');
    // The viewer's transceiver still says recvonly; it offers for another reason.
    await v.pc.setLocalDescription(await v.pc.createOffer());
    const res = await ok<{ answer: { sdp: string } }>(v.socket, 'session:offer', {
      sessionId: v.sessionId,
      offer: { type: 'offer', sdp: v.pc.localDescription!.sdp },
    });
    expect(res.answer.sdp).toMatch(/a=inactive/);
    await v.pc.setRemoteDescription(res.answer as never);
    const before = v.packets;
    await new Promise((r) => setTimeout(r, 300));
    expect(v.packets - before).toBeLessThan(5);
    expect(fx.t.app.get(SessionService).list()[0].state).toBe('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    // Only a resume request turns it back on.
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
    expect(v.state).toBe('streaming');
    await v.waitForPackets(v.packets + 10);
  });

  it('client-side stop of a video that is the BUNDLE tag: inactive and a re-offer; resume once it receives again', async () => {
    const v = await streaming('client'); // video first: its m-line is the tag
    v.transceiver!.setDirection('inactive');
    await v.pc.setLocalDescription(await v.pc.createOffer());
    const res = await ok<{ answer: { sdp: string } }>(v.socket, 'session:offer', {
      sessionId: v.sessionId,
      offer: { type: 'offer', sdp: v.pc.localDescription!.sdp },
    });
    // Answered inactive, the m-line kept (port, BUNDLE group).
    expect(res.answer.sdp).toMatch(/m=video [1-9]/);
    expect(res.answer.sdp).toMatch(/a=inactive/);
    expect(res.answer.sdp).toMatch(/a=group:BUNDLE 0 1/);
    await v.pc.setRemoteDescription(res.answer as never);
    await v.waitForState('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    const before = v.packets;
    await new Promise((r) => setTimeout(r, 300));
    expect(v.packets - before).toBeLessThan(5);

    // A resume while the client still keeps it inactive: its answer says inactive, the
    // request fails clearly and the session stays data-only, data channel working.
    const refused = await request<{ ok: boolean; error?: { code: string } }>(v.socket, 'session:resume-video', { sessionId: v.sessionId });
    expect(refused).toMatchObject({ ok: false, error: { code: 'NEGOTIATION_FAILED' } });
    expect(fx.t.app.get(SessionService).list()[0].state).toBe('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');

    // Receiving again and offering it resumes the video (its own stop, its own resume).
    v.transceiver!.setDirection('recvonly');
    await v.pc.setLocalDescription(await v.pc.createOffer());
    const resumed = await ok<{ answer: { sdp: string } }>(v.socket, 'session:offer', {
      sessionId: v.sessionId,
      offer: { type: 'offer', sdp: v.pc.localDescription!.sdp },
    });
    expect(resumed.answer.sdp).toMatch(/a=sendonly/);
    await v.pc.setRemoteDescription(resumed.answer as never);
    await v.waitForState('streaming');
    await v.waitForPackets(v.packets + 10);
    expect(v.pc.remoteDescription!.sdp.match(/^m=video/gm)).toHaveLength(1);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('stop and resume are idempotent, and resume twice at once is serialised', async () => {
    const v = await streaming('server');
    await Promise.all([
      ok(v.socket, 'session:stop-video', { sessionId: v.sessionId }),
      ok(v.socket, 'session:stop-video', { sessionId: v.sessionId }),
    ]);
    expect(v.state).toBe('data-only');
    await Promise.all([
      ok(v.socket, 'session:resume-video', { sessionId: v.sessionId }),
      ok(v.socket, 'session:resume-video', { sessionId: v.sessionId }),
    ]);
    expect(v.state).toBe('streaming');
    expect(v.pc.getTransceivers().filter((x) => x.kind === 'video' && !x.stopped)).toHaveLength(1);
    await v.waitForPackets(v.packets + 10);
  });

  it('a client offer while the server offer is out gets INVALID_STATE, and the session recovers', async () => {
    const v = await streaming('client');
    v.autoAnswer = false;
    const stop = request(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    const serverOffer = await v.nextServerOffer();
    const mine = await v.pc.createOffer();
    const res = await request(v.socket, 'session:offer', { sessionId: v.sessionId, offer: { type: 'offer', sdp: mine.sdp } });
    expect(res).toMatchObject({ ok: false, error: { code: 'INVALID_STATE' } });
    v.autoAnswer = true;
    await v.answerServerOffer(serverOffer);
    expect(await stop).toMatchObject({ ok: true });
    expect(v.state).toBe('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('a renegotiation the client never answers times out, is reported, and keeps the data channel', async () => {
    await fx.restart({ session: { negotiationTimeoutMs: 500 } });
    const v = await streaming('server');
    v.autoAnswer = false;
    const res = await request(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    expect(res).toMatchObject({ ok: false, error: { code: 'NEGOTIATION_FAILED' } });
    expect(fx.t.app.get(SessionService).list()[0].peerConnection.signalingState).toBe('stable');
    expect(v.states[v.states.length - 1]).toMatchObject({ state: 'data-only', reason: 'negotiation-failed' });
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('20 stop/resume cycles in one session: video and data channel each time, no leaked sockets, flat memory', async () => {
    const v = await streaming('client');
    const udpWhileStreaming = countOwnUdpSockets();
    const heap: number[] = [];
    for (let i = 0; i < 20; i++) {
      await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
      expect(v.state).toBe('data-only');
      expect(await v.roundTrip(JSON.stringify({ type: 'ping', id: i }), (m) => m.includes(`"id":${i}`))).toContain('pong');
      await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
      expect(v.state).toBe('streaming');
      await v.waitForPackets(v.packets + 5);
      // Renegotiation must reuse the transport: no new sockets per cycle.
      expect(countOwnUdpSockets()).toBeLessThanOrEqual(udpWhileStreaming);
      if (i % 5 === 4) {
        global.gc?.();
        heap.push(process.memoryUsage().heapUsed);
      }
    }
    expect(v.pc.connectionState).toBe('connected');
    // Heap after the last cycles is not far above the first sample (no per-cycle growth).
    expect(heap[heap.length - 1]).toBeLessThan(heap[0] * 1.5 + 8 * 1024 * 1024);
    const baseline = udpWhileStreaming - 2; // the session's server and viewer sockets
    await ok(v.socket, 'session:close', { sessionId: v.sessionId });
    await v.close();
    expect(await waitForUdpSocketsAtMost(baseline)).toBeLessThanOrEqual(baseline);
  }, 120_000);
});
