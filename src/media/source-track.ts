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
export type NumberedSink = MediaSink & {
  readonly takesNumbers: true;
  /**
   * Around a batch of live packets (see `MediaSource.publish`): the sink may hold the batch's
   * packets and send them together at `endBatch` (the lean path's segmented send).
   */
  readonly beginBatch?: () => void;
  readonly endBatch?: () => void;
};

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
 *
 * A new viewer starts with a catch-up on the cached group of pictures (`beginCatchUp`): the
 * keyframe at once, the frames after it a slice at a time (`pace`, driven by the source once
 * per event-loop turn for all viewers catching up), with the source's own numbers; live
 * packets wait meanwhile, since the cache grows with them and the catch-up sends them in
 * order. A new keyframe ends it early: the rest of the old group is no longer needed, and
 * the sequence numbers run on from the last one sent.
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
  private readonly batchSink?: { beginBatch(): void; endBatch(): void };
  /** A new viewer's catch-up: the cache's own array (it grows with live packets) and the next index. */
  private catchUp?: { gop: readonly RtpPacket[]; next: number };

  constructor(
    readonly sourceId: string,
    /** @internal the source's fan-out calls this (through `deliver`) */
    readonly sink: MediaSink,
    /** What the track carries: the source's video (replays, PLI) or its audio (neither). */
    readonly kind: 'video' | 'audio' = 'video',
  ) {
    super();
    this.takesNumbers = (sink as Partial<NumberedSink>).takesNumbers === true;
    const b = sink as Partial<NumberedSink>;
    if (typeof b.beginBatch === 'function' && typeof b.endBatch === 'function') this.batchSink = b as { beginBatch(): void; endBatch(): void };
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
   * pictures (which already holds this packet, and may hold the rest of its frame after it:
   * the source hands a frame's packets over in batches, see `MediaSource.publish`).
   */
  deliver(packet: RtpPacket, cached: () => readonly RtpPacket[], shared?: SharedPacket, sharedOf?: SharedLookup): void {
    const ts = packet.header.timestamp >>> 0;
    if (this.catchUp) {
      // The packet is at the end of the cache: the catch-up sends it in its turn.
      if (cached() === this.catchUp.gop) return;
      // The cache began again at this packet (a new keyframe) or was dropped: live from here,
      // the numbers running on from the last one sent (no gap for the viewer to NACK).
      this.catchUp = undefined;
      if (this.lastOutSeq !== undefined) {
        this.seqOffset = (this.lastOutSeq + 1 - packet.header.sequenceNumber + SEQ_MOD) & 0xffff;
      }
    }
    if (this.replayPending && this.lastInTs !== undefined && ts !== this.lastInTs) {
      // A new frame starts: the previous one is complete at the viewer, replay now.
      this.replayPending = false;
      const gop = cached().filter((p) => p.header.timestamp >>> 0 !== ts);
      if (gop.length) this.replay(gop, packet, sharedOf);
    }
    this.emitShifted(packet, this.seqOffset, this.tsOffset, shared);
    this.lastInTs = ts;
  }

  /**
   * @internal A batch of live packets, in order (see `MediaSource.publish`): each as `deliver`,
   * inside the sink's batch when it takes batches (it then sends them when the batch ends).
   */
  deliverBatch(packets: readonly RtpPacket[], cached: () => readonly RtpPacket[], shared: readonly SharedPacket[], sharedOf?: SharedLookup): void {
    const b = this.batchSink;
    b?.beginBatch();
    try {
      for (let i = 0; i < packets.length && !this._ended; i++) this.deliver(packets[i], cached, shared[i], sharedOf);
    } finally {
      b?.endBatch();
    }
  }

  /**
   * @internal Starts a new viewer on the cached group of pictures `gop` (the cache's own
   * array): its first frame, the keyframe, is sent now; the rest through `pace`. Returns
   * whether packets remain to be paced.
   */
  beginCatchUp(gop: readonly RtpPacket[], sharedOf?: SharedLookup): boolean {
    if (this._ended || gop.length === 0) return false;
    const first = gop[0].header.timestamp >>> 0;
    let i = 0;
    while (i < gop.length && gop[i].header.timestamp >>> 0 === first) this.sendCached(gop[i++], sharedOf);
    if (i === gop.length || this._ended) return false;
    this.catchUp = { gop, next: i };
    return true;
  }

  /**
   * @internal Sends up to `max` more packets of the catch-up. `current` is the source's cache
   * now: a catch-up on another array has been overtaken (see `deliver`). Returns whether
   * packets remain.
   */
  pace(max: number, current: readonly RtpPacket[], sharedOf?: SharedLookup): boolean {
    const c = this.catchUp;
    if (!c || this._ended) return false;
    if (c.gop !== current) {
      // Dropped with no packet since (the source stopped): the next live packet ends it.
      return false;
    }
    const end = Math.min(c.gop.length, c.next + max);
    while (c.next < end && !this._ended) this.sendCached(c.gop[c.next++], sharedOf);
    if (c.next < c.gop.length && !this._ended) return true;
    if (this.catchUp === c) this.catchUp = undefined;
    return false;
  }

  /** Whether the viewer is still being sent the cached group of pictures. */
  get catchingUp(): boolean {
    return this.catchUp !== undefined;
  }

  private sendCached(p: RtpPacket, sharedOf?: SharedLookup): void {
    this.emitShifted(p, this.seqOffset, this.tsOffset, sharedOf?.(p));
    this.lastInTs = p.header.timestamp >>> 0;
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
