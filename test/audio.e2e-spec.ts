import type { ChildProcess } from 'node:child_process';
import { RtpSource } from '../src/media/sources/rtp.source';
import { killChild, spawnRtpAvSender } from '../src/media/sources/testing/helpers';
import { SessionService } from '../src/session/session.service';
import { startApp, TestApp } from './helpers/app';
import { sleep, until } from './helpers/wait';
import { WeriftViewer, ok, request } from './helpers/werift-viewer';
import { whepPost } from './whep/whep-client';

/**
 * Audio end to end with werift viewers: an RTP source with VP8 and Opus (a 440 Hz tone, both
 * from one ffmpeg), in every negotiation flow; stop and resume of all media or of one kind,
 * with the data channel working throughout.
 */
describe('audio (RTP source with Opus, werift viewers)', () => {
  let t: TestApp;
  let source: RtpSource;
  let sender: ChildProcess | undefined;
  const viewers: WeriftViewer[] = [];

  beforeEach(async () => {
    source = new RtpSource({ id: 'av', codec: 'VP8', port: 0, audio: { port: 0 } });
    t = await startApp({ source });
    sender = spawnRtpAvSender({ videoPort: source.port, audioPort: source.audioPort!, codec: 'VP8' });
  });

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await killChild(sender);
    sender = undefined;
    await t.close();
  });

  async function viewer(mode: 'client' | 'server' | 'data-first'): Promise<WeriftViewer> {
    const v = new WeriftViewer(await t.connect());
    viewers.push(v);
    if (mode === 'client') await v.startWithOffer(undefined, { audio: true });
    else if (mode === 'data-first') await v.startDataFirst();
    else await v.startWithServerOffer();
    await v.waitForState('streaming', 15_000);
    await v.waitForPackets(10, 15_000);
    await v.waitForAudioPackets(10, 15_000);
    return v;
  }

  /** Audio and video packets that arrive within `ms`. */
  async function arriving(v: WeriftViewer, ms = 400): Promise<{ audio: number; video: number }> {
    const a = v.audioPackets;
    const p = v.packets;
    await sleep(ms);
    return { audio: v.audioPackets - a, video: v.packets - p };
  }

  it('sources:list says the source has audio', async () => {
    const socket = await t.connect();
    const res = await ok<{ sources: { id: string; audioMimeType?: string }[] }>(socket, 'sources:list', {});
    expect(res.sources.find((s) => s.id === 'av')?.audioMimeType).toBe('audio/opus');
  });

  for (const mode of ['client', 'server', 'data-first'] as const) {
    it(`audio and video arrive in one stream; stop-video stops both, keeps the data channel; resume brings both (${mode})`, async () => {
      const v = await viewer(mode);
      const remote = v.pc.remoteDescription!.sdp;
      expect(remote).toMatch(/m=audio [1-9]\d* /);
      // One MediaStream for both tracks (the browser lip-syncs a stream's tracks).
      const msids = [...remote.matchAll(/^a=msid:(\S+) /gm)].map((m) => m[1]);
      expect(msids.length).toBe(2);
      expect(new Set(msids).size).toBe(1);
      expect(t.app.get(SessionService).summaries()[0].audio).toBe('live');

      await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
      expect(v.state).toBe('data-only');
      expect(v.pc.remoteDescription!.sdp).toMatch(/m=audio [1-9]\d* [^\r\n]*\r\n(?:(?!m=)[^\r\n]*\r\n)*a=inactive/);
      expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
      await sleep(200); // in-flight packets
      const off = await arriving(v);
      expect(off.audio).toBeLessThan(3);
      expect(off.video).toBeLessThan(3);
      expect(v.pc.connectionState).toBe('connected');
      expect(t.app.get(SessionService).summaries()[0].audio).toBe('stopped');

      await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
      expect(v.state).toBe('streaming');
      await v.waitForAudioPackets(v.audioPackets + 10);
      await v.waitForPackets(v.packets + 10);
      expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    });
  }

  it('the sender reports of both tracks put their RTP timestamps on one wall clock (what lip sync needs)', async () => {
    const v = await viewer('data-first');
    // For each kind: the last packet's RTP timestamp and arrival (epoch ms), and how far the
    // arrival is from the time the latest sender report maps that timestamp to.
    const clocks = { audio: 48_000, video: 90_000 };
    const off: Record<'audio' | 'video', number[]> = { audio: [], video: [] };
    for (const tr of v.pc.getTransceivers()) {
      const kind = tr.kind as 'audio' | 'video';
      let last: { ts: number; at: number } | undefined;
      tr.receiver.tracks[0]?.onReceiveRtp.subscribe((p: { header: { timestamp: number } }) => {
        last = { ts: p.header.timestamp >>> 0, at: Date.now() };
      });
      tr.receiver.onRtcp.subscribe((r: { type: number; senderInfo?: { ntpTimestamp: bigint; rtpTimestamp: number } }) => {
        if (r.type !== 200 || !r.senderInfo || !last) return;
        const ntpMs = Number(r.senderInfo.ntpTimestamp >> 32n) * 1000 + (Number(r.senderInfo.ntpTimestamp & 0xffffffffn) / 2 ** 32) * 1000 - 2_208_988_800_000;
        const dt = (((last.ts - r.senderInfo.rtpTimestamp) | 0) / clocks[kind]) * 1000;
        off[kind].push(Math.round(last.at - (ntpMs + dt)));
      });
    }
    await until(() => `sender reports of both (${JSON.stringify(off)})`, () => off.audio.length >= 3 && off.video.length >= 3, 15_000);
    console.log(`arrival minus sender-report time, ms: audio ${off.audio.join(' ')}; video ${off.video.join(' ')}`);
    // Loopback: a packet arrives within a few ms of the time its report gives it; a video
    // frame's packets are published over a few ms, and a loaded machine adds some.
    for (const d of [...off.audio, ...off.video]) expect(Math.abs(d)).toBeLessThan(150);
  });

  it("kind 'audio' stops and resumes only the audio; the video goes on", async () => {
    const v = await viewer('data-first');
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId, kind: 'audio' });
    expect(v.state).toBe('streaming');
    await sleep(200);
    const off = await arriving(v, 1000);
    expect(off.audio).toBeLessThan(3);
    // The other kind goes on (waited for: a loaded machine may delay the encoder's packets).
    await v.waitForPackets(v.packets + 10);
    // Idempotent.
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId, kind: 'audio' });
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId, kind: 'audio' });
    await v.waitForAudioPackets(v.audioPackets + 10);
    expect(v.state).toBe('streaming');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it("kind 'video' stops only the video (data-only); the audio goes on", async () => {
    const v = await viewer('client');
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId, kind: 'video' });
    expect(v.state).toBe('data-only');
    await sleep(200);
    const off = await arriving(v, 1000);
    expect(off.video).toBeLessThan(3);
    await v.waitForAudioPackets(v.audioPackets + 10);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId, kind: 'video' });
    expect(v.state).toBe('streaming');
    await v.waitForPackets(v.packets + 10);
    // A stop of all media after a video-only stop also stops the audio.
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId, kind: 'video' });
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    await sleep(200);
    expect((await arriving(v)).audio).toBeLessThan(3);
  });

  it('a client offering video only gets no audio m-line added; an explicit audio resume adds one', async () => {
    const v = new WeriftViewer(await t.connect());
    viewers.push(v);
    await v.startWithOffer();
    await v.waitForState('streaming', 15_000);
    await v.waitForPackets(10, 15_000);
    expect(v.pc.remoteDescription!.sdp).not.toMatch(/m=audio/);
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
    expect(v.pc.remoteDescription!.sdp).not.toMatch(/m=audio/);
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId, kind: 'audio' });
    await v.waitForAudioPackets(10);
  });

  it('WHEP: the offered audio m-line is answered sendonly; stop and resume (no renegotiation) stop and restart the audio on it', async () => {
    const c = await whepPost(`${t.url}/whep`, { audio: true });
    try {
      expect(c.status).toBe(201);
      expect(c.pc.remoteDescription!.sdp).toMatch(/m=audio [1-9]\d* [^\r\n]*\r\n(?:(?!m=)[^\r\n]*\r\n)*a=sendonly/);
      await until('audio and video', () => c.audioPackets() > 10 && c.packets() > 10, 15_000);
      const sessions = t.app.get(SessionService);
      const [s] = sessions.summaries();
      await sessions.stopVideoById(s.id, 'video-stopped');
      await sleep(300);
      const a = c.audioPackets();
      await sleep(500);
      expect(c.audioPackets() - a).toBeLessThan(3);
      await sessions.resumeVideo(s.ownerId, s.id);
      await until('audio again', () => c.audioPackets() > a + 10, 10_000);
    } finally {
      await c.close();
    }
  });

  it('a client that sets its audio transceiver inactive and offers stops the audio; recvonly again resumes it', async () => {
    const v = await viewer('client');
    const audio = v.pc.getTransceivers().find((x) => x.kind === 'audio')!;
    const offerWith = async () => {
      await v.pc.setLocalDescription(await v.pc.createOffer());
      const res = await ok<{ answer: { sdp: string } }>(v.socket, 'session:offer', {
        sessionId: v.sessionId,
        offer: { type: 'offer', sdp: v.pc.localDescription!.sdp },
      });
      await v.pc.setRemoteDescription(res.answer as never);
    };
    audio.setDirection('inactive');
    await offerWith();
    await sleep(200);
    const off = await arriving(v, 1000);
    expect(off.audio).toBeLessThan(3);
    // The other kind goes on (waited for: a loaded machine may delay the encoder's packets).
    await v.waitForPackets(v.packets + 10);
    expect(v.state).toBe('streaming');
    audio.setDirection('recvonly');
    await offerWith();
    await v.waitForAudioPackets(v.audioPackets + 10);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('refuses an unknown kind', async () => {
    const v = await viewer('data-first');
    const res = await request(v.socket, 'session:stop-video', { sessionId: v.sessionId, kind: 'subtitles' });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error.code).toBe('VALIDATION_FAILED');
  });
});

describe('audio m-lines for a source without audio', () => {
  let t: TestApp;
  const viewers: WeriftViewer[] = [];
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await t.close();
  });

  it('an offered audio m-line is answered rejected; the video plays as before', async () => {
    const v = new WeriftViewer(await t.connect());
    viewers.push(v);
    await v.startWithOffer(undefined, { audio: true });
    await v.waitForState('streaming');
    await v.waitForPackets(10);
    expect(v.pc.remoteDescription!.sdp).toMatch(/m=audio 0 /);
    expect(t.app.get(SessionService).summaries()[0].audio).toBe('none');
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId, kind: 'audio' });
    expect(v.audioPackets).toBe(0);
  });
});
