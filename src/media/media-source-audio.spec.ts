import { Logger } from '@nestjs/common';
import { RtpHeader, RtpPacket } from 'werift';
import { createSource } from './create-source';
import { MediaSource } from './media-source';
import { sourceConfigProblems } from './source-config';
import { FileSource } from './sources/file.source';
import { RtpSource } from './sources/rtp.source';
import { RtpRewriter } from './sources/rtp-rewriter';
import { sleep, until } from './sources/testing/helpers';

/** A source with audio whose packets the test pushes. */
class AvSource extends MediaSource {
  readonly id = 'av';
  readonly kind = 'av';
  readonly codec = 'VP8' as const;
  override readonly audioCodec = 'opus' as const;
  running = false;
  protected start(): void {
    this.running = true;
  }
  protected stop(): void {
    this.running = false;
  }
  audio(seq: number): void {
    this.publishAudio(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 960, payloadType: 111 }), Buffer.from([0xfc, seq & 0xff])));
  }
  video(seq: number, key = false): void {
    this.publish(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000, marker: true, payloadType: 96 }), Buffer.from([seq & 0xff])), key);
  }
  finish(): void {
    this.end('source-ended');
  }
}

class VideoOnly extends MediaSource {
  readonly id = 'v';
  readonly kind = 'v';
  readonly codec = 'VP8' as const;
  protected start(): void {}
  protected stop(): void {}
}

describe('a source with audio', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  it('fans each audio packet out once to every audio listener, apart from the video, with no cache', async () => {
    const s = new AvSource();
    await s.onModuleInit();
    expect(s.hasAudio).toBe(true);
    expect(s.audioCodecParameters()?.mimeType).toBe('audio/OPUS');
    expect(s.info().audioMimeType).toBe('audio/opus');
    s.video(1, true);
    s.audio(1); // before any listener: dropped, never replayed
    const a: number[] = [];
    const b: number[] = [];
    const shared = new Set<unknown>();
    const ta = s.subscribeAudio((p, sp) => {
      a.push(p.header.sequenceNumber);
      shared.add(sp);
    });
    s.subscribeAudio((p, sp) => {
      b.push(p.header.sequenceNumber);
      shared.add(sp);
    });
    const video: number[] = [];
    s.subscribe((p) => video.push(p.header.sequenceNumber));
    s.audio(2);
    s.audio(3);
    s.video(2);
    expect(a).toEqual([2, 3]);
    expect(b).toEqual([2, 3]);
    expect(video).toEqual([1, 2]); // the cached keyframe, then live; no audio in it
    expect(shared.size).toBe(2); // one preparation per packet, shared by both listeners
    expect(s.audioListeners).toBe(2);
    expect(ta.kind).toBe('audio');
    ta.stop('audio-stopped');
    s.audio(4);
    expect(a).toEqual([2, 3]);
    expect(s.audioListeners).toBe(1);
  });

  it('a listener that throws is dropped, the others go on; the source ending ends the audio tracks', async () => {
    const s = new AvSource();
    await s.onModuleInit();
    const got: number[] = [];
    const bad = s.subscribeAudio(() => {
      throw new Error('broken');
    });
    const good = s.subscribeAudio((p) => got.push(p.header.sequenceNumber));
    s.audio(1);
    expect(bad.ended).toBe(true);
    expect(got).toEqual([1]);
    s.finish();
    expect(good.ended).toBe(true);
    expect(good.reason).toBe('source-ended');
    expect(s.subscribeAudio(() => undefined).ended).toBe(true);
  });

  it('a video-only source has no audio: its audio subscription ends at once', async () => {
    const s = new VideoOnly();
    await s.onModuleInit();
    expect(s.hasAudio).toBe(false);
    expect(s.audioCodecParameters()).toBeUndefined();
    expect(s.info().audioMimeType).toBeUndefined();
    const t = s.subscribeAudio(() => undefined);
    expect([t.ended, t.reason]).toEqual([true, 'no-audio']);
  });

  it('on demand: an audio listener alone keeps the source running', async () => {
    const s = new AvSource().setOnDemand({ lingerMs: 20 });
    await s.onModuleInit();
    const v = s.subscribe(() => undefined);
    const a = s.subscribeAudio(() => undefined);
    await until('running', () => s.running);
    v.stop('video-stopped');
    await sleep(80);
    expect(s.running).toBe(true);
    a.stop('audio-stopped');
    await until('stopped after the linger time', () => !s.running);
  });

  it('audio options: rtp audioPort, rtsp/file audio; IVF refuses audio', () => {
    expect(sourceConfigProblems([{ id: 'a', kind: 'rtp', codec: 'VP8', port: 5004, audioPort: 5006, audioPayloadType: 111 }])).toEqual([]);
    expect(sourceConfigProblems([{ id: 'a', kind: 'rtp', codec: 'VP8', port: 5004, audioPort: 70000 }])[0]).toMatch(/audioPort/);
    expect(sourceConfigProblems([{ id: 'a', kind: 'rtsp', url: 'rtsp://x/y', audio: 'yes' }])[0]).toMatch(/audio/);
    expect(sourceConfigProblems([{ id: 'a', kind: 'file', path: '/x.mp4', audio: true }])).toEqual([]);
    expect((createSource({ id: 'a', kind: 'rtp', codec: 'VP8', port: 0, audioPort: 0 }) as RtpSource).hasAudio).toBe(true);
    expect(createSource({ id: 'a', kind: 'rtp', codec: 'VP8', port: 0 }).hasAudio).toBe(false);
    expect(createSource({ id: 'a', kind: 'rtsp', url: 'rtsp://127.0.0.1/x', audio: true }).hasAudio).toBe(true);
    expect(createSource({ id: 'a', kind: 'file', path: '/x.webm', audio: true }).hasAudio).toBe(true);
    expect(() => new FileSource({ id: 'a', path: '/x.ivf', audio: true })).toThrow(/IVF file has no audio/);
  });

  it('the RTP rewriter keeps audio continuous on the 48 kHz clock (20 ms frames)', () => {
    const r = new RtpRewriter({ clockRate: 48_000, initialSequenceNumber: 100, initialTimestamp: 0 });
    const p = (seq: number, ts: number, ssrc = 1) => new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, ssrc, payloadType: 111 }), Buffer.from([1]));
    const out: number[] = [];
    for (let i = 0; i < 5; i++) {
      const x = p(1000 + i, 5000 + i * 960);
      r.rewrite(x, i * 20);
      out.push(x.header.timestamp);
    }
    // The encoder restarts (new SSRC) 20 ms later: the next packet is one frame on.
    const y = p(7, 123, 2);
    r.rewrite(y, 100);
    expect(out).toEqual([0, 960, 1920, 2880, 3840]);
    expect(y.header.timestamp).toBe(3840 + 960);
    expect(y.header.sequenceNumber).toBe(105);
  });
});
