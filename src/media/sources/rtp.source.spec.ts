import { Logger } from '@nestjs/common';
import { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { RtpHeader, RtpPacket } from 'werift';
import { profileLevelIdFromSps, RtpReceiver } from './rtp-receiver';
import { codecParametersFor, RtpSource } from './rtp.source';
import {
  firstSeqGap,
  isH264KeyframeStart,
  isVp8KeyframeStart,
  killChild,
  ownUdpSocketsOnPort,
  record,
  recordStates,
  sleep,
  spawnRtpSender,
  until,
} from './testing/helpers';

jest.setTimeout(40_000);

function rtp(pt: number, seq: number, ts: number, payload: number[], marker = false): Buffer {
  return new RtpPacket(new RtpHeader({ payloadType: pt, sequenceNumber: seq, timestamp: ts, ssrc: 5, marker }), Buffer.from(payload)).serialize();
}

describe('RtpReceiver (datagrams fed directly)', () => {
  const quiet = new Logger('test');
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  it('drops RTCP, other payload types and junk; forwards the rest', () => {
    const rx = new RtpReceiver({ codec: 'VP8', port: 0, payloadType: 96, logger: quiet });
    const got: RtpPacket[] = [];
    rx.on('packet', (p) => got.push(p));
    rx.onMessage(Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0])); // RTCP SR
    rx.onMessage(rtp(97, 1, 0, [0x10, 0]));
    rx.onMessage(Buffer.from([1, 2, 3]));
    rx.onMessage(rtp(96, 1, 0, [0x10, 0x00, 0, 0]));
    expect(rx.stats).toMatchObject({ received: 4, rtcp: 1, wrongPayloadType: 1, malformed: 1, forwarded: 1 });
    expect(got).toHaveLength(1);
  });

  it('counts oversize payloads', () => {
    const rx = new RtpReceiver({ codec: 'VP8', port: 0, logger: quiet });
    rx.onMessage(rtp(96, 1, 0, [0x10, ...new Array(1300).fill(1)]));
    rx.onMessage(rtp(96, 2, 0, [0x00, ...new Array(1000).fill(1)]));
    expect(rx.stats.oversize).toBe(1);
    expect(rx.stats.forwarded).toBe(2);
  });

  it('VP8: marks only the first packet of a keyframe', () => {
    const rx = new RtpReceiver({ codec: 'VP8', port: 0, logger: quiet });
    const keys: boolean[] = [];
    rx.on('packet', (_p, k) => keys.push(k));
    rx.onMessage(rtp(96, 1, 0, [0x10, 0x00, 0x00, 0x00])); // S=1 PID=0, P=0 (key)
    rx.onMessage(rtp(96, 2, 0, [0x00, 0x00, 0x00])); // continuation
    rx.onMessage(rtp(96, 3, 3000, [0x10, 0x01, 0x00, 0x00])); // inter frame
    rx.onMessage(rtp(96, 4, 6000, [0x90, 0x80, 0x81, 0x23, 0x00, 0, 0])); // X, I, 15-bit picture id, key
    expect(keys).toEqual([true, false, false, true]);
  });

  it('H.264: SPS, STAP-A with SPS/IDR, IDR or FU-A IDR start begins a keyframe, once per access unit', () => {
    const rx = new RtpReceiver({ codec: 'H264', port: 0, logger: quiet });
    const keys: boolean[] = [];
    rx.on('packet', (_p, k) => keys.push(k));
    const sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
    const pps = [0x68, 0xcb, 0x83];
    rx.onMessage(rtp(96, 1, 0, [0x18, 0, sps.length, ...sps, 0, pps.length, ...pps])); // STAP-A
    rx.onMessage(rtp(96, 2, 0, [0x7c, 0x85, 1, 2])); // FU-A start of IDR, same AU
    rx.onMessage(rtp(96, 3, 0, [0x7c, 0x45, 3, 4], true)); // FU-A end
    rx.onMessage(rtp(96, 4, 3000, [0x41, 0x9a, 1])); // non-IDR slice
    rx.onMessage(rtp(96, 5, 6000, [0x7c, 0x85, 1])); // FU-A IDR start without SPS
    rx.onMessage(rtp(96, 6, 9000, [0x65, 0x88, 1])); // single IDR NAL
    rx.onMessage(rtp(96, 7, 12000, [0x06, 0x05, 1])); // SEI first
    rx.onMessage(rtp(96, 8, 12000, [0x67, 0x64, 0x00, 0x28, 1])); // then SPS (High 4.0)
    rx.onMessage(rtp(96, 9, 12000, [0x7c, 0x85, 1])); // then IDR
    rx.onMessage(rtp(96, 10, 15000, [0x7c, 0x81, 1])); // FU-A start of a non-IDR slice
    expect(keys).toEqual([true, false, false, false, true, true, false, true, false, false]);
    expect(rx.profileLevelId).toBe('640028');
  });

  it('reads the profile-level-id from an SPS', () => {
    expect(profileLevelIdFromSps(Buffer.from([0x67, 0x42, 0xe0, 0x1f, 0]))).toBe('42e01f');
    expect(profileLevelIdFromSps(Buffer.from([0x68, 0x42, 0xe0, 0x1f]))).toBeUndefined();
  });
});

describe('codecParametersFor', () => {
  it('gives VP8, or H.264 mode 1 with the profile-level-id', () => {
    expect(codecParametersFor('VP8').mimeType).toBe('video/VP8');
    const h = codecParametersFor('H264', '640028');
    expect(h.mimeType).toBe('video/H264');
    expect(h.parameters).toBe('profile-level-id=640028;packetization-mode=1;level-asymmetry-allowed=1');
    expect(codecParametersFor('H264').parameters).toContain('profile-level-id=42e01f');
    expect(() => codecParametersFor('H264', 'xyz')).toThrow();
  });
});

describe('RtpSource with ffmpeg senders', () => {
  let source: RtpSource | undefined;
  let sender: ChildProcess | undefined;

  beforeAll(() => Logger.overrideLogger(['error']));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  afterEach(async () => {
    await killChild(sender, 'SIGKILL');
    sender = undefined;
    if (source) {
      const port = source.port;
      await source.onModuleDestroy();
      expect(ownUdpSocketsOnPort(port)).toBe(0);
    }
    source = undefined;
  });

  async function startSource(codec: 'VP8' | 'H264', payloadType: number, extra: { offlineAfterMs?: number; profileLevelId?: string } = {}) {
    source = new RtpSource({ id: 'cam', codec, port: 0, payloadType, ...extra });
    const states = recordStates(source);
    await source.onModuleInit();
    expect(source.info().state).toBe('starting');
    expect(ownUdpSocketsOnPort(source.port)).toBe(1);
    return { source, states };
  }

  it.each([
    ['VP8', 96],
    ['H264', 102],
  ] as const)('%s: packets arrive; a new viewer gets a GOP that starts with a keyframe; stop releases the socket', async (codec, pt) => {
    const { source: s, states } = await startSource(codec, pt, { profileLevelId: 'auto' });
    const first = record(s);
    sender = spawnRtpSender({ port: s.port, codec, payloadType: pt });
    await until('packets and two keyframes', () => s.stats.keyframes >= 2 && first.packets.length > 50, 15_000);
    expect(states).toEqual(['live']);
    expect(s.info().state).toBe('live');
    expect(firstSeqGap(first.packets)).toBe(-1);
    expect(new Set(first.packets.map((p) => p.ssrc)).size).toBe(1);
    expect(s.stats.oversize).toBe(0);
    const isKey = codec === 'VP8' ? isVp8KeyframeStart : isH264KeyframeStart;
    // A viewer arriving mid-GOP is given the cached GOP first: its first packet starts a keyframe.
    await sleep(400);
    const late = record(s);
    expect(late.packets.length).toBeGreaterThan(1);
    expect(isKey(late.packets[0].payload)).toBe(true);
    if (codec === 'H264') {
      // x264 baseline for 320x240: constrained baseline (42c0), level 1.3 (0d)
      expect(s.detectedProfileLevelId).toMatch(/^42[0-9a-f]{2}0d$/);
      expect(s.codecParameters().parameters).toContain(`profile-level-id=${s.detectedProfileLevelId}`);
    }
    const n = late.packets.length;
    await until('live packets after the cache', () => late.packets.length > n, 5000);
    late.track.stop();
    expect(s.viewers).toBe(1);
  });

  it('keeps sequence numbers and timestamps continuous across a sender restart, and reports offline/online', async () => {
    const { source: s, states } = await startSource('VP8', 96, { offlineAfterMs: 500 });
    const rec = record(s);
    sender = spawnRtpSender({ port: s.port, codec: 'VP8', payloadType: 96 });
    await until('packets from the first sender', () => rec.packets.length > 30);
    await killChild(sender, 'SIGKILL');
    const before = rec.packets.length;
    await until('offline', () => s.info().state === 'offline', 3000);
    expect(rec.packets.length).toBe(before);
    sender = spawnRtpSender({ port: s.port, codec: 'VP8', payloadType: 96 });
    await until('packets from the second sender', () => s.info().state === 'live' && rec.packets.length > before + 30);
    // From the first packet on (a loaded machine may start ffmpeg later than offlineAfterMs,
    // and the source is rightly `offline` until then).
    expect(states.slice(states.indexOf('live'))).toEqual(['live', 'offline', 'live']);
    expect(firstSeqGap(rec.packets)).toBe(-1);
    expect(new Set(rec.packets.map((p) => p.ssrc)).size).toBe(1);
    // Across the gap the timestamp moved on by about the silence (at least 500 ms at 90 kHz).
    const jump = (rec.packets[before].ts - rec.packets[before - 1].ts) >>> 0;
    expect(jump).toBeGreaterThanOrEqual(45_000);
    expect(jump).toBeLessThan(90_000 * 10);
    expect(s.stats.segments).toBe(2);
  });

  it('goes offline when nothing arrives at all after start', async () => {
    const { source: s, states } = await startSource('H264', 96, { offlineAfterMs: 200 });
    await until('a state change', () => states.length > 0, 2000);
    expect(states).toEqual(['offline']);
    expect(s.info().state).toBe('offline');
  });

  it('drops packets of another payload type and RTCP', async () => {
    const { source: s } = await startSource('H264', 96);
    const rec = record(s);
    sender = spawnRtpSender({ port: s.port, codec: 'H264', payloadType: 102 });
    await until('RTP and RTCP packets', () => s.stats.wrongPayloadType > 20 && s.stats.rtcp > 0);
    expect(rec.packets).toHaveLength(0);
    expect(s.info().state).toBe('starting');
  });

  it('counts oversize packets from an encoder with a large packet size', async () => {
    const { source: s } = await startSource('VP8', 96);
    sender = spawnRtpSender({ port: s.port, codec: 'VP8', payloadType: 96, pktSize: 1400 });
    await until('an oversize packet', () => s.stats.oversize > 0);
  });

  it('refuses a port in use, and releases its socket on stop', async () => {
    const other = createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    const port = other.address().port;
    try {
      const s = new RtpSource({ id: 'x', codec: 'VP8', port });
      await expect(s.onModuleInit()).rejects.toThrow(/EADDRINUSE/);
      expect(ownUdpSocketsOnPort(port)).toBe(1); // only `other`
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
    expect(ownUdpSocketsOnPort(port)).toBe(0);
  });
});
