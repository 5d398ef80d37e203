import { EventEmitter } from 'node:events';
import type { RtpPacket } from 'werift';
import type { SharedPacket } from './fanout/shared-packet';
import { SEQ_MOD, TS_MOD, tsDiff } from './rtp-numbers';

/**
 * Receives a source's RTP packets. Must not keep the packet beyond the call. `shared` is the
 * source's once-per-packet preparation for the lean send path (same payload, the source's
 * numbers; the packet's header carries this viewer's sequence number and timestamp).
 */
export type MediaSink = (packet: RtpPacket, shared?: SharedPacket, seq?: number, timestamp?: number) => void;

/**
 * A sink that reads this viewer's sequence number and timestamp from its arguments (the lean
 * send path) whenever `shared` is given: the track then leaves the shared packet's header
 * alone instead of rewriting and restoring it for each viewer.
 */
export type NumberedSink = MediaSink & { readonly takesNumbers: true };

/** How a track finds the shared preparation of a cached (replayed) packet. */
export type SharedLookup = (packet: RtpPacket) => SharedPacket | undefined;

/** What a picture-loss request (a viewer's PLI) led to. */
export type PictureLossOutcome =
  /** the source was asked for a new keyframe */
  | 'source'
  /** the cached group of pictures is resent to this viewer at the next frame boundary */
  | 'replay'
  /** nothing: within the rate limit, or nothing cached yet */
  | 'limited'
  | 'ended';


/**
 * One viewer's feed from a source. `stop()` is idempotent: it marks the track ended, emits
 * `ended` once (with the reason), and drops every listener. The source stops its tracks
 * when it ends; a session stops its track when it stops its video.
 *
 * The track keeps the viewer's RTP continuous on its own: packets go to the sink with the
 * source's sequence numbers and timestamps plus per-viewer offsets, which are zero until the
 * cached group of pictures is resent to this one viewer (after a picture loss the source
 * cannot answer with a new keyframe). A replay is sent at a frame boundary, with new
 * sequence numbers and with timestamps one tick apart just after the last frame sent (so the
 * decoder catches up at once), and the offsets then grow so that the live packets run on.
 */
export class SourceTrack extends EventEmitter<{ ended: [reason: string] }> {
  private _ended = false;
  private _reason?: string;
  private seqOffset = 0;
  private tsOffset = 0;
  private lastOutSeq?: number;
  private lastOutTs?: number;
  private lastInTs?: number;
  private replayPending = false;
  private lastPictureLossAt = -Infinity;
  private readonly takesNumbers: boolean;

  constructor(
    readonly sourceId: string,
    /** @internal the source's fan-out calls this (through `deliver`) */
    readonly sink: MediaSink,
    /** What the track carries: the source's video (replays, PLI) or its audio (neither). */
    readonly kind: 'video' | 'audio' = 'video',
  ) {
    super();
    this.takesNumbers = (sink as Partial<NumberedSink>).takesNumbers === true;
  }

  get ended(): boolean {
    return this._ended;
  }

  /** Why the track ended, once it has. */
  get reason(): string | undefined {
    return this._reason;
  }

  stop(reason = 'stopped'): void {
    if (this._ended) return;
    this._ended = true;
    this._reason = reason;
    this.emit('ended', reason);
    this.removeAllListeners();
  }

  /**
   * @internal The source hands every packet here; `cached` gives the source's current group of
   * pictures (which already ends with this packet).
   */
  deliver(packet: RtpPacket, cached: () => readonly RtpPacket[], shared?: SharedPacket, sharedOf?: SharedLookup): void {
    const ts = packet.header.timestamp >>> 0;
    if (this.replayPending && this.lastInTs !== undefined && ts !== this.lastInTs) {
      // A new frame starts: the previous one is complete at the viewer, replay now.
      this.replayPending = false;
      const gop = cached().filter((p) => p.header.timestamp >>> 0 !== ts);
      if (gop.length) this.replay(gop, packet, sharedOf);
    }
    this.emitShifted(packet, this.seqOffset, this.tsOffset, shared);
    this.lastInTs = ts;
  }

  /** @internal Marks that the cached group of pictures is to be resent at the next frame start. */
  scheduleReplay(): void {
    this.replayPending = true;
  }

  /**
   * @internal Rate limiting of picture-loss requests: true when this one may be acted on
   * (at most one per `minIntervalMs`).
   */
  admitPictureLoss(minIntervalMs: number, nowMs = performance.now()): boolean {
    if (this._ended || nowMs - this.lastPictureLossAt < minIntervalMs) return false;
    this.lastPictureLossAt = nowMs;
    return true;
  }

  private replay(gop: readonly RtpPacket[], next: RtpPacket, sharedOf?: SharedLookup): void {
    if (this.lastOutSeq === undefined || this.lastOutTs === undefined) return;
    const baseTs = this.lastOutTs;
    let frame = 0;
    let prevTs: number | undefined;
    let seq = this.lastOutSeq;
    for (const p of gop) {
      const inTs = p.header.timestamp >>> 0;
      if (inTs !== prevTs) {
        frame++;
        prevTs = inTs;
      }
      seq = (seq + 1) & 0xffff;
      this.emitShifted(
        p,
        (seq - p.header.sequenceNumber + SEQ_MOD) & 0xffff,
        (baseTs + frame - inTs + TS_MOD) >>> 0,
        sharedOf?.(p),
      );
    }
    // Live packets run on after the replayed ones.
    this.seqOffset = (seq + 1 - next.header.sequenceNumber + SEQ_MOD) & 0xffff;
    const liveTs = ((next.header.timestamp >>> 0) + this.tsOffset) >>> 0;
    const lastReplayTs = (baseTs + frame) >>> 0;
    if (tsDiff(liveTs, lastReplayTs) <= 0) {
      this.tsOffset = (this.tsOffset + (tsDiff(lastReplayTs, liveTs) + 1)) >>> 0;
    }
  }

  /** Hands the packet to the sink with shifted numbers, restoring the shared header after. */
  private emitShifted(packet: RtpPacket, seqOffset: number, tsOffset: number, shared?: SharedPacket): void {
    const h = packet.header;
    const seq = h.sequenceNumber;
    const ts = h.timestamp;
    const outSeq = (seq + seqOffset) & 0xffff;
    const outTs = (ts + tsOffset) >>> 0;
    if (shared && this.takesNumbers) {
      this.sink(packet, shared, outSeq, outTs);
    } else {
      h.sequenceNumber = outSeq;
      h.timestamp = outTs;
      try {
        this.sink(packet, shared, outSeq, outTs);
      } finally {
        h.sequenceNumber = seq;
        h.timestamp = ts;
      }
    }
    if (this.lastOutSeq === undefined || ((outSeq - this.lastOutSeq) & 0xffff) < 0x8000) this.lastOutSeq = outSeq;
    if (this.lastOutTs === undefined || tsDiff(outTs, this.lastOutTs) > 0) this.lastOutTs = outTs;
  }
}
