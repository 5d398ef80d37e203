/**
 * Named sources end to end, with werift viewers: an RTP VP8 source fed by Debian's ffmpeg
 * (health transitions and per-viewer continuity across an encoder restart), a file played
 * once, `sources:list`, SOURCE_NOT_FOUND, PLI answered from the cache and rate-limited, and
 * CODEC_NOT_SUPPORTED.
 */
import { Logger } from '@nestjs/common';
import type { ChildProcess } from 'node:child_process';
import { RTCPeerConnection, RtpPacket, useVP8 } from 'werift';
import { MediaSourceRegistry } from '../src/media/source-registry';
import type { RtpSource } from '../src/media/sources/rtp.source';
import { Fixtures, childPids, killChild, makeFixtures, spawnRtpSender } from '../src/media/sources/testing/helpers';
import type { SourcesListResult } from '../src/protocol';
import { SessionService } from '../src/session/session.service';
import { TestApp, startApp } from './helpers/app';
import { WeriftViewer, loopbackPeer, ok, request } from './helpers/werift-viewer';
import { until } from './helpers/wait';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sequence numbers of the video RTP a viewer receives. */
function recordSeqs(v: WeriftViewer): number[] {
  const seqs: number[] = [];
  const hook = () => v.videoTrack?.onReceiveRtp.subscribe((p: RtpPacket) => seqs.push(p.header.sequenceNumber));
  if (v.videoTrack) hook();
  else v.pc.onTrack.subscribe(() => hook());
  return seqs;
}

describe('named media sources (werift viewers)', () => {
  let t: TestApp;
  let fx: Fixtures;
  let sender: ChildProcess | undefined;
  const viewers: WeriftViewer[] = [];

  beforeAll(async () => {
    fx = await makeFixtures(2);
  });
  afterAll(() => fx?.cleanup());

  beforeEach(async () => {
    t = await startApp({
      streaming: {
        sources: [
          { id: 'enc', kind: 'rtp', codec: 'VP8', port: 0, offlineAfterMs: 600 },
          { id: 'h264', kind: 'rtp', codec: 'H264', port: 0, offlineAfterMs: 600 },
          // On demand: the 2 s file starts with its first viewer, not with the app (under load,
          // or with media workers starting, it could end before the viewer was streaming).
          { id: 'vod', kind: 'file', path: fx.ivf, loop: false, onDemand: true },
        ],
      },
    });
  });
  afterEach(async () => {
    await killChild(sender);
    sender = undefined;
    for (const v of viewers.splice(0)) await v.close();
    await t.close();
    expect(childPids('ffmpeg')).toEqual([]);
  });

  async function viewer(): Promise<WeriftViewer> {
    const v = new WeriftViewer(await t.connect());
    viewers.push(v);
    return v;
  }
  const source = (id: string) => t.app.get(MediaSourceRegistry).get(id)!;
  const sendTo = (id: string, codec: 'VP8' | 'H264') =>
    (sender = spawnRtpSender({ port: (source(id) as RtpSource).port, codec, payloadType: 96 }));

  it('lists the sources with their viewers, and refuses an unknown one with SOURCE_NOT_FOUND', async () => {
    const socket = await t.connect();
    const before = await ok<SourcesListResult>(socket, 'sources:list', {});
    expect(before.sources.map((s) => [s.id, s.kind, s.codec, s.viewers])).toEqual([
      ['test', 'test', 'VP8', 0],
      ['enc', 'rtp', 'VP8', 0],
      ['h264', 'rtp', 'H264', 0],
      ['vod', 'file', 'VP8', 0],
    ]);
    expect(before.sources[2]).toMatchObject({ mimeType: 'video/H264', sdpFmtpLine: expect.stringContaining('packetization-mode=1') });
    const bad = await request(socket, 'sources:list', { extra: 1 });
    expect(bad.ok).toBe(false);

    const v = await viewer();
    await v.startDataFirst('test');
    await v.waitForPackets(10);
    const after = await ok<SourcesListResult>(socket, 'sources:list', {});
    expect(after.sources.find((s) => s.id === 'test')).toMatchObject({ viewers: 1, state: 'live' });

    const res = await request(socket, 'session:start', { source: 'nope' });
    expect(res).toMatchObject({ ok: false, error: { code: 'SOURCE_NOT_FOUND' } });
    expect((res as { error: { message: string } }).error.message).toContain('enc');
  });

  it('relays RTP VP8 from ffmpeg; tells viewers when it goes offline and back, and their sequence numbers run on', async () => {
    sendTo('enc', 'VP8');
    await until('the rtp source live', () => source('enc').currentState === 'live');
    const v = await viewer();
    const seqs = recordSeqs(v);
    await v.startDataFirst('enc');
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    expect(v.keyframes).toBeGreaterThan(0);

    // The encoder dies: viewers are told, the session stays streaming.
    await killChild(sender, 'SIGKILL');
    await v.waitForState('streaming');
    await until('source-offline', () => v.states.some((s) => s.reason === 'source-offline'), 5_000);
    expect(v.state).toBe('streaming');
    const before = v.packets;
    const lastSeq = seqs[seqs.length - 1];

    // A new encoder (new SSRC, new random numbers): back online, media on the same track.
    sendTo('enc', 'VP8');
    await until('source-online', () => v.states.some((s) => s.reason === 'source-online'), 10_000);
    await v.waitForPackets(before + 30);
    expect(v.tracks).toBe(1);
    // Continuity at the viewer: the first packet after the restart follows the last one.
    const after = seqs.slice(seqs.indexOf(lastSeq) + 1);
    expect(after.length).toBeGreaterThan(10);
    expect(after[0]).toBe((lastSeq + 1) & 0xffff);
    for (let i = 1; i < after.length; i++) expect((after[i] - after[i - 1]) & 0xffff).toBeLessThan(50);
    expect(v.states.map((s) => s.reason ?? '')).toEqual(['', 'source-offline', 'source-online']);
  });

  it('a file played once: the viewers become data-only with reason source-ended', async () => {
    const v = await viewer();
    await v.startDataFirst('vod');
    await v.waitForState('streaming');
    await v.waitForPackets(10);
    const ended = await v.waitForState('data-only', 10_000);
    expect(ended.reason).toBe('source-ended');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    // A session started on the ended source: it connects data-only (no video to add).
    const late = await viewer();
    await late.startDataFirst('vod');
    expect(await late.waitForState('data-only')).toMatchObject({ state: 'data-only' });
    expect(late.states.some((e) => e.state === 'streaming')).toBe(false);
    expect(await late.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('answers a PLI with the cached keyframe soon, and rate-limits a PLI flood', async () => {
    const v = await viewer();
    await v.startDataFirst('test');
    await v.waitForState('streaming');
    await v.waitForPackets(30);
    const session = t.app.get(SessionService).list()[0];
    const receiver = v.transceiver!.receiver;
    const ssrc = v.videoTrack!.ssrc!;
    // Wait until the cached keyframe sent at the start is behind us.
    await sleep(300);
    const keyframes = v.keyframes;
    const sentAt = performance.now();
    await receiver.sendRtcpPLI(ssrc);
    await until('a keyframe after the PLI', () => v.keyframes > keyframes, 2_000);
    const latencyMs = performance.now() - sentAt;
    console.log(`PLI -> keyframe at the viewer: ${latencyMs.toFixed(0)} ms`);
    expect(latencyMs).toBeLessThan(1000);
    expect(session.pictureLoss.replay).toBe(1);

    // A flood: 40 PLIs in 800 ms are acted on at most once per second.
    await sleep(1000);
    for (let i = 0; i < 40; i++) {
      await receiver.sendRtcpPLI(ssrc);
      await sleep(20);
    }
    await sleep(200);
    const { replay, limited } = session.pictureLoss;
    expect(replay).toBeGreaterThanOrEqual(2);
    expect(replay).toBeLessThanOrEqual(3);
    expect(limited).toBeGreaterThanOrEqual(37);
    expect(v.packets).toBeGreaterThan(30);
  });

  it('a codec the client cannot receive: CODEC_NOT_SUPPORTED without a data channel, data-only beside one', async () => {
    Logger.overrideLogger(['error']);
    try {
      // A client offering a video m-line with VP8 only, for an H.264 source, and nothing else:
      // there is nothing to keep, the start is refused.
      const vp8Only = new RTCPeerConnection({ codecs: { video: [useVP8()], audio: [] }, iceServers: [] });
      vp8Only.addTransceiver('video', { direction: 'recvonly' });
      const offer = await vp8Only.createOffer();
      const socket = await t.connect();
      const res = await request(socket, 'session:start', { source: 'h264', offer: { type: 'offer', sdp: offer.sdp } });
      expect(res).toMatchObject({ ok: false, error: { code: 'CODEC_NOT_SUPPORTED' } });
      await vp8Only.close();

      // The same video beside a data channel, in one offer (the client library's default):
      // the answer rejects the video m-line (port 0); the session is data-only, and its data
      // channel works.
      const one = new WeriftViewer(await t.connect(), loopbackPeer({ codecs: { video: [useVP8()], audio: [] } }));
      viewers.push(one);
      await one.startWithOffer('h264');
      const answered = one.pc.remoteDescription!.sdp;
      expect(answered).toMatch(/^m=video 0 /m);
      expect(await one.waitForState('data-only')).toMatchObject({ state: 'data-only', reason: 'codec-not-supported' });
      expect(await one.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
      expect(one.packets).toBe(0);

      // Only a data channel offered (`videoInOffer: false`); the server offers H.264 video
      // and a VP8-only client rejects it: the same end.
      const v = new WeriftViewer(await t.connect(), loopbackPeer({ codecs: { video: [useVP8()], audio: [] } }));
      viewers.push(v);
      await v.startDataFirst('h264');
      const state = await v.waitForState('data-only');
      expect(state).toMatchObject({ state: 'data-only', reason: 'codec-not-supported' });
      expect(v.packets).toBe(0);
      expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    } finally {
      Logger.overrideLogger(['error', 'warn']);
    }
  });
});
