import { RtpHeader, RtpPacket } from 'werift';
import { RtpRewriter, seqDiff, tsDiff } from './rtp-rewriter';

function pkt(seq: number, ts: number, ssrc = 1111): RtpPacket {
  return new RtpPacket(
    new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: ts >>> 0, ssrc, payloadType: 96 }),
    Buffer.from([1, 2, 3]),
  );
}

/** Feeds `frames` frames of `perFrame` packets, 3000 ticks and 33 ms apart; returns the packets. */
function feed(
  rw: RtpRewriter,
  opts: { seq: number; ts: number; ssrc?: number; frames: number; perFrame?: number; t0: number; tick?: number },
): { out: RtpPacket[]; t: number } {
  const out: RtpPacket[] = [];
  const per = opts.perFrame ?? 2;
  let seq = opts.seq;
  let t = opts.t0;
  for (let f = 0; f < opts.frames; f++) {
    for (let i = 0; i < per; i++) {
      const p = pkt(seq++, opts.ts + f * (opts.tick ?? 3000), opts.ssrc);
      expect(rw.rewrite(p, t)).not.toBe('dropped');
      out.push(p);
    }
    t += 33.3;
  }
  return { out, t };
}

function expectContinuous(packets: RtpPacket[]): void {
  for (let i = 1; i < packets.length; i++) {
    expect(seqDiff(packets[i].header.sequenceNumber, packets[i - 1].header.sequenceNumber)).toBe(1);
    expect(tsDiff(packets[i].header.timestamp, packets[i - 1].header.timestamp)).toBeGreaterThanOrEqual(0);
  }
}

describe('seqDiff / tsDiff', () => {
  it('are signed distances that wrap', () => {
    expect(seqDiff(0, 0xffff)).toBe(1);
    expect(seqDiff(0xffff, 0)).toBe(-1);
    expect(seqDiff(10, 5)).toBe(5);
    expect(seqDiff(0x8000, 0)).toBe(-0x8000);
    expect(tsDiff(0, 0xffffffff)).toBe(1);
    expect(tsDiff(0xffffffff, 0)).toBe(-1);
    expect(tsDiff(3000, 0)).toBe(3000);
  });
});

describe('RtpRewriter', () => {
  it('starts at the configured values and keeps the input spacing within a segment', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 100, initialTimestamp: 5000, ssrc: 42 });
    const { out } = feed(rw, { seq: 7000, ts: 123456, ssrc: 9, frames: 5, t0: 0 });
    expect(out[0].header.sequenceNumber).toBe(100);
    expect(out[0].header.timestamp).toBe(5000);
    expect(out.every((p) => p.header.ssrc === 42)).toBe(true);
    expectContinuous(out);
    expect(out[2].header.timestamp).toBe(8000);
    expect(out[9].header.timestamp).toBe(5000 + 4 * 3000);
    expect(rw.segments).toBe(1);
  });

  it('picks random initial values and SSRC by default', () => {
    const a = new RtpRewriter();
    const b = new RtpRewriter();
    const pa = pkt(1, 1);
    const pb = pkt(1, 1);
    a.rewrite(pa, 0);
    b.rewrite(pb, 0);
    // Astronomically unlikely to be equal in all three.
    expect(
      pa.header.sequenceNumber === pb.header.sequenceNumber &&
        pa.header.timestamp === pb.header.timestamp &&
        a.ssrc === b.ssrc,
    ).toBe(false);
  });

  it('continues across an SSRC change: seq + 1, timestamp + one frame interval', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 1000, initialTimestamp: 0 });
    const a = feed(rw, { seq: 500, ts: 90000, ssrc: 1, frames: 10, t0: 0 });
    const lastA = a.out[a.out.length - 1];
    // The new encoder starts at unrelated values right after (less than a frame of silence).
    const first = pkt(40000, 7, 2);
    expect(rw.rewrite(first, a.t - 33.3 + 10)).toBe('new-segment');
    expect(first.header.sequenceNumber).toBe((lastA.header.sequenceNumber + 1) & 0xffff);
    expect(first.header.timestamp).toBe(lastA.header.timestamp + 3000);
    const b = feed(rw, { seq: 40001, ts: 7 + 3000, ssrc: 2, frames: 3, t0: a.t + 30 });
    expectContinuous([lastA, first, ...b.out]);
    expect(rw.segments).toBe(2);
  });

  it('uses the wall-clock silence when it is longer than a frame', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0, initialTimestamp: 0 });
    const a = feed(rw, { seq: 0, ts: 0, frames: 5, t0: 0 });
    const lastTs = a.out[a.out.length - 1].header.timestamp;
    const lastAt = a.t - 33.3;
    const p = pkt(30000, 999, 77);
    rw.rewrite(p, lastAt + 2000); // two seconds later
    expect(p.header.timestamp).toBe(lastTs + 180000);
  });

  it('estimates the frame interval from the recent deltas (median)', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0, initialTimestamp: 0, defaultFrameTicks: 1234 });
    expect(rw.estimatedFrameTicks).toBe(1234);
    // 25 fps input: 3600 ticks per frame, one packet per frame.
    const a = feed(rw, { seq: 0, ts: 0, frames: 20, perFrame: 1, t0: 0, tick: 3600 });
    expect(rw.estimatedFrameTicks).toBe(3600);
    const last = a.out[a.out.length - 1].header.timestamp;
    const p = pkt(9000, 0, 5);
    rw.rewrite(p, a.t - 33.3 + 1);
    expect(p.header.timestamp).toBe(last + 3600);
  });

  it('starts a new segment on a forward sequence jump beyond maxDropout', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 10, initialTimestamp: 0 });
    const a = feed(rw, { seq: 100, ts: 0, frames: 3, t0: 0 });
    const p = pkt(100 + 6 + 5000, 3 * 3000, 1111);
    expect(rw.rewrite(p, a.t)).toBe('new-segment');
    expect(p.header.sequenceNumber).toBe(16);
  });

  it('passes a small loss through as a gap (no new segment)', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 10, initialTimestamp: 0 });
    feed(rw, { seq: 100, ts: 0, frames: 3, t0: 0 }); // out 10..15
    const p = pkt(110, 9000);
    expect(rw.rewrite(p, 200)).toBe('forwarded');
    expect(p.header.sequenceNumber).toBe(20);
  });

  it('passes reordered and duplicate packets through with their own numbers', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 10, initialTimestamp: 0 });
    feed(rw, { seq: 100, ts: 0, frames: 3, t0: 0 }); // seq 100..105 -> 10..15
    const late = pkt(103, 3000);
    expect(rw.rewrite(late, 120)).toBe('forwarded');
    expect(late.header.sequenceNumber).toBe(13);
    const next = pkt(106, 9000);
    rw.rewrite(next, 130);
    expect(next.header.sequenceNumber).toBe(16); // the late packet did not move the high mark
  });

  it('starts a new segment on a large backward sequence step (an encoder restart with the same SSRC)', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0, initialTimestamp: 0 });
    const a = feed(rw, { seq: 20000, ts: 50000, frames: 4, t0: 0 });
    const p = pkt(100, 50000, 1111);
    expect(rw.rewrite(p, a.t - 33.3 + 5)).toBe('new-segment');
    expect(p.header.sequenceNumber).toBe(8);
    expect(p.header.timestamp).toBe(3 * 3000 + 3000);
  });

  it('starts a new segment on a timestamp jump with running sequence numbers (file loop)', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0, initialTimestamp: 0 });
    const a = feed(rw, { seq: 0, ts: 900000, frames: 30, perFrame: 1, t0: 0 }); // 1 s of video
    const lastTs = a.out[a.out.length - 1].header.timestamp;
    const back = pkt(30, 0); // timestamps start again
    expect(rw.rewrite(back, a.t)).toBe('new-segment');
    expect(back.header.sequenceNumber).toBe(30);
    expect(back.header.timestamp).toBe(lastTs + 3000);
    const forward = pkt(31, 5_000_000_000 % 0x100000000); // a forward leap of hours
    expect(rw.rewrite(forward, a.t + 33)).toBe('new-segment');
    expect(forward.header.timestamp).toBe(lastTs + 6000);
  });

  it('does not treat B-frame-like small backward timestamps as a discontinuity', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0, initialTimestamp: 0 });
    rw.rewrite(pkt(0, 9000), 0);
    const b = pkt(1, 3000);
    expect(rw.rewrite(b, 33)).toBe('forwarded');
    expect(b.header.timestamp).toBe(0xffffffff - 6000 + 1);
  });

  it('handles 16-bit sequence and 32-bit timestamp wrap of the input', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 500, initialTimestamp: 1000 });
    const { out } = feed(rw, { seq: 0xfffd, ts: 0xffffffff - 4000, frames: 4, t0: 0 });
    expect(rw.segments).toBe(1);
    expect(out.map((p) => p.header.sequenceNumber)).toEqual([500, 501, 502, 503, 504, 505, 506, 507]);
    expect(out[7].header.timestamp).toBe(1000 + 9000);
  });

  it('wraps the output sequence number and timestamp', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0xfffe, initialTimestamp: 0xffffffff - 3000 });
    const a = feed(rw, { seq: 10, ts: 10, frames: 2, t0: 0 });
    expect(a.out.map((p) => p.header.sequenceNumber)).toEqual([0xfffe, 0xffff, 0, 1]);
    expect(a.out[2].header.timestamp).toBe(0xffffffff);
    const p = pkt(60000, 1, 99);
    rw.rewrite(p, a.t - 33.3 + 1);
    expect(p.header.sequenceNumber).toBe(2);
    expect(p.header.timestamp).toBe(2999);
  });

  it('keeps continuity across many restarts', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 65000, initialTimestamp: 0xfff00000 });
    const all: RtpPacket[] = [];
    let t = 0;
    for (let r = 0; r < 50; r++) {
      const seg = feed(rw, {
        seq: Math.floor(Math.random() * 65536),
        ts: Math.floor(Math.random() * 0xffffffff),
        ssrc: r + 1,
        frames: 3,
        t0: t,
      });
      all.push(...seg.out);
      t = seg.t;
    }
    expectContinuous(all);
    expect(rw.segments).toBe(50);
  });

  it('drops late packets of the replaced SSRC for a while, then accepts a switch back', () => {
    const rw = new RtpRewriter({ initialSequenceNumber: 0, initialTimestamp: 0, staleSsrcMs: 1000 });
    rw.rewrite(pkt(1, 0, 1), 0);
    rw.rewrite(pkt(9, 0, 2), 10);
    expect(rw.rewrite(pkt(2, 3000, 1), 20)).toBe('dropped');
    expect(rw.dropped).toBe(1);
    const p = pkt(10, 3000, 2);
    rw.rewrite(p, 30);
    expect(p.header.sequenceNumber).toBe(2);
    expect(rw.rewrite(pkt(3, 6000, 1), 2000)).toBe('new-segment');
  });
});
