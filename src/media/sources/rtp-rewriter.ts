import type { RtpPacket } from 'werift';
import { SEQ_MOD, TS_MOD, seqDiff, tsDiff } from '../rtp-numbers';

export { seqDiff, tsDiff };

/** RTP video clock rate. */
export const RTP_VIDEO_CLOCK = 90_000;

export interface RtpRewriterOptions {
  /** The stream's RTP clock rate (default 90000, video; Opus audio is 48000). */
  clockRate?: number;
  /** First outgoing sequence number (default random). */
  initialSequenceNumber?: number;
  /** First outgoing timestamp (default random). */
  initialTimestamp?: number;
  /** Outgoing SSRC, constant for the rewriter's life (default random). */
  ssrc?: number;
  /** Frame interval assumed until one has been measured, in clock ticks (default 3000 at 90 kHz: 30 fps; 20 ms for audio). */
  defaultFrameTicks?: number;
  /**
   * A forward sequence jump larger than this starts a new segment (RFC 3550 A.1's
   * MAX_DROPOUT, default 3000).
   */
  maxDropout?: number;
  /** A backward sequence step larger than this starts a new segment (MAX_MISORDER, default 100). */
  maxMisorder?: number;
  /**
   * A timestamp step larger than this (forward, in ticks) or any large backward step starts a
   * new segment even when the sequence numbers run on (a file loop). Default 10 s.
   */
  maxTimestampJump?: number;
  /** After an SSRC change, packets of the old SSRC are dropped for this long (ms, default 2000). */
  staleSsrcMs?: number;
}

/** What `rewrite()` did with a packet. */
export type RewriteResult = 'forwarded' | 'new-segment' | 'dropped';

const HISTORY = 16;

/**
 * Keeps the outgoing RTP sequence numbers and timestamps continuous when the incoming
 * stream restarts: a new SSRC (an encoder restart), a sequence jump, or a timestamp jump
 * (a file loop). Within one incoming segment, output = input + a fixed offset (so reordering
 * and loss pass through unchanged); at a discontinuity the offsets are reset so that the
 * first new packet gets (highest sequence number sent + 1) and (highest timestamp sent + an
 * estimated frame interval), the interval being the larger of the median of the recent
 * inter-frame timestamp deltas and the wall-clock time since the last packet (at 90 kHz).
 * The SSRC is rewritten to one constant value. Packets are changed in place.
 */
export class RtpRewriter {
  readonly ssrc: number;
  private readonly defaultFrameTicks: number;
  private readonly maxDropout: number;
  private readonly maxMisorder: number;
  private readonly maxTimestampJump: number;
  private readonly staleSsrcMs: number;
  private readonly clockRate: number;

  private started = false;
  private inSsrc = 0;
  private inSeq = 0; // highest incoming sequence number of the segment
  private inTs = 0; // timestamp of the packet with the highest incoming sequence number
  private seqOffset = 0;
  private tsOffset = 0;
  private outSeq: number; // highest outgoing sequence number sent
  private outTs: number; // highest outgoing timestamp sent
  private lastArrivalMs = 0;
  private staleSsrc?: number;
  private staleUntilMs = 0;
  private readonly deltas: number[] = [];
  private _segments = 0;
  private _dropped = 0;

  constructor(options: RtpRewriterOptions = {}) {
    this.ssrc = (options.ssrc ?? Math.floor(Math.random() * 0xffffffff)) >>> 0;
    this.clockRate = options.clockRate ?? RTP_VIDEO_CLOCK;
    // Video: 30 fps; audio: 20 ms frames (Opus's usual).
    this.defaultFrameTicks = options.defaultFrameTicks ?? (this.clockRate === RTP_VIDEO_CLOCK ? 3000 : Math.round(this.clockRate / 50));
    this.maxDropout = options.maxDropout ?? 3000;
    this.maxMisorder = options.maxMisorder ?? 100;
    this.maxTimestampJump = options.maxTimestampJump ?? 10 * this.clockRate;
    this.staleSsrcMs = options.staleSsrcMs ?? 2000;
    // "Previous" output values, so that the first packet gets exactly the initial ones.
    this.outSeq = ((options.initialSequenceNumber ?? Math.floor(Math.random() * SEQ_MOD)) - 1) & 0xffff;
    this.outTs = options.initialTimestamp ?? Math.floor(Math.random() * TS_MOD);
    this.outTs >>>= 0;
  }

  /** How many incoming segments have been seen (1 after the first packet). */
  get segments(): number {
    return this._segments;
  }

  /** Packets dropped (late packets of a replaced SSRC). */
  get dropped(): number {
    return this._dropped;
  }

  /** The interval the next discontinuity would add, from the recent frame deltas (ticks). */
  get estimatedFrameTicks(): number {
    if (this.deltas.length === 0) return this.defaultFrameTicks;
    const sorted = [...this.deltas].sort((a, b) => a - b);
    return sorted[sorted.length >> 1];
  }

  /**
   * Rewrites the packet's sequence number, timestamp and SSRC in place. Returns `dropped`
   * when the packet must not be forwarded (it belongs to a stream that was replaced).
   */
  rewrite(packet: RtpPacket, nowMs: number = performance.now()): RewriteResult {
    const h = packet.header;
    const seq = h.sequenceNumber & 0xffff;
    const ts = h.timestamp >>> 0;
    let result: RewriteResult = 'forwarded';

    if (!this.started) {
      this.started = true;
      this.newSegment(seq, ts, h.ssrc >>> 0, 0, nowMs);
      result = 'new-segment';
    } else if (h.ssrc >>> 0 !== this.inSsrc) {
      if (h.ssrc >>> 0 === this.staleSsrc && nowMs < this.staleUntilMs) {
        this._dropped++;
        return 'dropped';
      }
      this.staleSsrc = this.inSsrc;
      this.staleUntilMs = nowMs + this.staleSsrcMs;
      this.newSegment(seq, ts, h.ssrc >>> 0, this.gapTicks(nowMs), nowMs);
      result = 'new-segment';
    } else {
      const ds = seqDiff(seq, this.inSeq);
      const dt = tsDiff(ts, this.inTs);
      const seqBreak = ds > this.maxDropout || ds < -this.maxMisorder;
      // A large timestamp jump on a packet that runs on in sequence: the stream was cut and
      // resumed with new timestamps (e.g. a looping file whose timestamps start again).
      const tsBreak = ds > 0 && (dt > this.maxTimestampJump || dt < -this.clockRate / 2);
      if (seqBreak || tsBreak) {
        this.newSegment(seq, ts, this.inSsrc, this.gapTicks(nowMs), nowMs);
        result = 'new-segment';
      } else if (ds > 0) {
        if (ds === 1 && dt > 0 && dt <= this.clockRate) this.pushDelta(dt);
        this.inSeq = seq;
        this.inTs = ts;
      }
    }

    const outSeq = (seq + this.seqOffset) & 0xffff;
    const outTs = (ts + this.tsOffset) >>> 0;
    if (seqDiff(outSeq, this.outSeq) > 0) this.outSeq = outSeq;
    if (tsDiff(outTs, this.outTs) > 0) this.outTs = outTs;
    this.lastArrivalMs = nowMs;
    h.sequenceNumber = outSeq;
    h.timestamp = outTs;
    h.ssrc = this.ssrc;
    return result;
  }

  /** Timestamp advance for a discontinuity: a frame interval, or the silence if longer. */
  private gapTicks(nowMs: number): number {
    const wall = Math.round(Math.max(0, nowMs - this.lastArrivalMs) * (this.clockRate / 1000));
    return Math.max(this.estimatedFrameTicks, wall);
  }

  private newSegment(seq: number, ts: number, ssrc: number, advance: number, nowMs: number): void {
    const nextSeq = (this.outSeq + 1) & 0xffff;
    const nextTs = (this.outTs + advance) >>> 0;
    this.seqOffset = (nextSeq - seq) & 0xffff;
    this.tsOffset = (nextTs - ts) >>> 0;
    this.inSsrc = ssrc;
    this.inSeq = seq;
    this.inTs = ts;
    this.lastArrivalMs = nowMs;
    this._segments++;
  }

  private pushDelta(dt: number): void {
    this.deltas.push(dt);
    if (this.deltas.length > HISTORY) this.deltas.shift();
  }
}
