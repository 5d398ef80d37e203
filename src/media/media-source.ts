import { Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { RtpPacket, RTCRtpCodecParameters, useVP8 } from 'werift';
import { AudioCodecName, audioCodecParameters, codecDescription } from './codecs';
import { PacketHistory, SharedPacket } from './fanout/shared-packet';
import { KeyframeCache } from './keyframe-cache';
import { OnDemand } from './on-demand';
import type { MediaSourceEvents, OnDemandOptions, PublishTap, SourceInfo, SourceState, VideoCodecName } from './source-types';
import { MediaSink, PictureLossOutcome, SourceTrack } from './source-track';

export type { MediaSink, PictureLossOutcome } from './source-track';
export { SourceTrack } from './source-track';

/** A viewer's picture-loss requests are acted on at most this often (ms). */
export const PICTURE_LOSS_MIN_INTERVAL_MS = 1000;

/**
 * New viewers' catch-ups on the cached group of pictures (after each one's keyframe) take at
 * most this much of an event-loop turn (ms), a few packets per viewer in turn, so that the
 * viewers already watching, the source's input and other handshakes go on meanwhile.
 */
export const CATCH_UP_SLICE_MS = 2;
/** Packets per viewer per step of a catch-up slice (round robin over the viewers). */
export const CATCH_UP_STEP_PACKETS = 8;
/**
 * Live packets handed to each viewer in one go (see `publish`): a frame, in chunks of at most
 * this many, so a keyframe goes out to a viewer in bursts of at most this many packets.
 */
export const FANOUT_BATCH_PACKETS = 16;

export type { AudioCodecName } from './codecs';
export type { MediaSourceEvents, OnDemandOptions, PublishTap, SourceInfo, SourceState, VideoCodecName } from './source-types';

/**
 * A video source: encodes or ingests once and fans the same RTP packets out to every
 * viewer. This abstract class is also the DI token; a test or an embedding application
 * swaps the default with `overrideProvider(MediaSource).useClass(MySource)`.
 *
 * Subclasses produce packets (one packetization, sequence numbers and timestamps
 * continuous for as long as the source lives) and hand them to `publish()`.
 */
export abstract class MediaSource implements OnModuleInit, OnModuleDestroy {
  abstract readonly id: string;
  abstract readonly kind: string;
  abstract readonly codec: VideoCodecName;
  /**
   * The audio codec when the source carries audio (Opus), set by a subclass configured with
   * audio; undefined for a video-only source. Sessions negotiate an audio m-line only when set,
   * so it must be known before the first viewer (it is configuration, not read from the stream).
   */
  readonly audioCodec?: AudioCodecName;

  protected readonly logger = new Logger(this.constructor.name);
  protected state: SourceState = 'starting';
  /**
   * Set by a subclass that reports its own state from its media (an ingest: `live` when
   * packets flow, `offline` when they stop); the base class then does not mark the source
   * `live` when `start()` returns.
   */
  protected readonly reportsOwnState: boolean = false;
  /** State changes; every session of the source listens (so no listener limit). */
  readonly events = new EventEmitter<MediaSourceEvents>().setMaxListeners(0);
  private readonly tracks = new Set<SourceTrack>();
  /** Viewers of the audio: fanned out like the video, without a cache (audio needs no keyframe). */
  private readonly audioTracks = new Set<SourceTrack>();
  /** The last audio packets, prepared once for every viewer's lean sender (as `history`). */
  private readonly audioHistory = new PacketHistory(256);
  private readonly cache = new KeyframeCache();
  /** What a track replays from; one function for the source, not one per packet. */
  private readonly cached = (): readonly RtpPacket[] => this.cache.snapshot();
  /** The on-demand schedule (see setOnDemand). */
  private demand?: OnDemand;
  /**
   * The last packets published, each prepared once for every viewer's lean send path
   * (payload copy, send times); NACKs are answered from here.
   */
  private readonly history = new PacketHistory(1024);
  /** The preparation of each packet still referenced (the keyframe cache's, for replays). */
  private readonly prepared = new WeakMap<RtpPacket, SharedPacket>();
  private readonly sharedOf = (packet: RtpPacket): SharedPacket | undefined => this.prepared.get(packet);
  private readonly taps = new Set<PublishTap>();
  /** Published packets not yet handed to the viewers, and their preparations (see `publish`). */
  private readonly pending: RtpPacket[] = [];
  private readonly pendingShared: SharedPacket[] = [];
  private flushTurn?: NodeJS.Immediate;
  private readonly flushTask = (): void => {
    this.flushTurn = undefined;
    this.flush();
  };
  /** Viewers being sent the cached group of pictures (see `paceCatchUps`). */
  private readonly catchingUp = new Set<SourceTrack>();
  private catchUpTurn?: NodeJS.Immediate;

  /** Begin producing packets. */
  protected abstract start(): Promise<void> | void;
  /** Stop producing packets and release everything (timers, sockets, child processes). */
  protected abstract stop(): Promise<void> | void;

  async onModuleInit(): Promise<void> {
    if (this.demand) {
      // Nothing runs until a viewer comes (see setOnDemand).
      this.setState('idle');
      return;
    }
    this.setState('starting');
    await this.start();
    if (this.state === 'starting' && !this.reportsOwnState) this.setState('live');
  }

  async onModuleDestroy(): Promise<void> {
    this.end('source-stopped');
    if (!this.demand) return this.stop();
    await this.demand.shutdown();
  }

  /**
   * Makes the source start when its first viewer subscribes and stop `lingerMs` after its
   * last viewer left (a camera that accepts few RTSP clients is pulled only while watched).
   * Its keyframe cache is dropped when it stops, so the first viewer after a start waits for
   * the source's first keyframe; later viewers get the cache. Call before the module starts.
   */
  setOnDemand(options: OnDemandOptions): this {
    this.demand = new OnDemand(options.lingerMs, {
      isEnded: () => this.ended,
      logger: this.logger,
      listeners: () => this.tracks.size + this.audioTracks.size,
      start: async () => {
        this.setState('starting');
        await this.start();
        if (this.state === 'starting' && !this.reportsOwnState) this.setState('live');
      },
      stop: async () => this.stop(),
      failed: () => {
        if (!this.ended) this.setState('offline');
      },
      stopped: () => {
        // The next viewer waits for a fresh keyframe rather than a picture from before.
        this.dropCache();
        if (!this.ended) this.setState('idle');
      },
    });
    return this;
  }

  /** Whether the source is on demand, and whether it runs now. */
  get onDemand(): { lingerMs: number; running: boolean } | undefined {
    return this.demand && { lingerMs: this.demand.lingerMs, running: this.demand.running };
  }

  /** Whether the source has ended for good (a file played once, or shut down). */
  get ended(): boolean {
    return this.state === 'stopped';
  }

  /** The current state (`starting`, `live`, `offline`, `stopped`). */
  get currentState(): SourceState {
    return this.state;
  }

  /**
   * Ends the source: every viewer's track ends (their sessions become data-only), and new
   * subscriptions are refused. Subclasses call this when their media runs out.
   */
  protected end(reason: string): void {
    this.pending.length = 0;
    this.pendingShared.length = 0;
    if (this.flushTurn) clearImmediate(this.flushTurn);
    this.flushTurn = undefined;
    this.setState('stopped');
    this.cache.clear();
    this.history.clear();
    this.catchingUp.clear();
    if (this.catchUpTurn) clearImmediate(this.catchUpTurn);
    this.catchUpTurn = undefined;
    for (const tap of [...this.taps]) tap.ended(reason);
    for (const t of [...this.tracks, ...this.audioTracks]) t.stop(reason);
    this.tracks.clear();
    this.audioTracks.clear();
    this.audioHistory.clear();
  }

  /** Changes the state and emits `state` (no event when it is unchanged; `stopped` is final). */
  protected setState(state: SourceState): void {
    const previous = this.state;
    if (previous === state) return;
    if (previous === 'stopped' && state !== 'starting') return;
    this.state = state;
    this.events.emit('state', state, previous);
  }

  /**
   * Asks the source for a new keyframe (a viewer sent a PLI). Returns whether the source
   * can act on it; the default cannot (sources that only relay an encoder's stream, or
   * replay a file, have no encoder to ask; the keyframe cache covers new viewers).
   */
  requestKeyframe(): boolean {
    return false;
  }

  /**
   * A viewer lost its picture (its PLI): rate-limited per viewer; the source is asked for a
   * keyframe when it can make one, otherwise the cached group of pictures is resent to that
   * one viewer (continuity of its sequence numbers and timestamps is kept by its track).
   */
  pictureLoss(track: SourceTrack, minIntervalMs = PICTURE_LOSS_MIN_INTERVAL_MS): PictureLossOutcome {
    if (track.ended || !this.tracks.has(track)) return 'ended';
    if (!track.admitPictureLoss(minIntervalMs)) return 'limited';
    if (this.requestKeyframe()) return 'source';
    if (this.cache.size === 0) return 'limited';
    // The replay starts at the next frame after what was published so far (see `publish`).
    this.flush();
    track.scheduleReplay();
    return 'replay';
  }

  /** The codec werift negotiates for this source. */
  codecParameters(): RTCRtpCodecParameters {
    return useVP8();
  }

  /** Whether the source carries audio (see `audioCodec`). */
  get hasAudio(): boolean {
    return this.audioCodec !== undefined;
  }

  /** The audio codec werift negotiates (Opus), or undefined for a video-only source. */
  audioCodecParameters(): RTCRtpCodecParameters | undefined {
    return this.audioCodec ? audioCodecParameters(this.audioCodec) : undefined;
  }

  /**
   * Adds a listener of the source's audio: every audio packet from now on (nothing cached: an
   * Opus packet decodes on its own). Its track ends with the source, like the video's. A
   * source without audio returns a track that has ended.
   */
  subscribeAudio(sink: MediaSink): SourceTrack {
    const track = new SourceTrack(this.id, sink, 'audio');
    if (this.ended || !this.hasAudio) {
      track.stop(this.ended ? 'source-ended' : 'no-audio');
      return track;
    }
    this.audioTracks.add(track);
    track.once('ended', () => {
      this.audioTracks.delete(track);
      if (this.demand) this.demand.listenersChanged();
    });
    if (this.demand) this.demand.listenersChanged();
    return track;
  }

  /** Audio listeners (sessions whose audio is on). */
  get audioListeners(): number {
    return this.audioTracks.size;
  }

  /**
   * Adds a viewer. The viewer is sent the cached group of pictures (so it can decode a
   * picture without waiting for the next keyframe): the keyframe at once, the frames after it
   * paced over the next event-loop turns (see `paceCatchUps`), then every live packet.
   */
  subscribe(sink: MediaSink): SourceTrack {
    const track = new SourceTrack(this.id, sink);
    if (this.ended) {
      track.stop('source-ended');
      return track;
    }
    // Packets published before this viewer came reach it through the cache, not again live.
    this.flush();
    this.tracks.add(track);
    track.once('ended', () => {
      this.tracks.delete(track);
      this.catchingUp.delete(track);
      if (this.demand) this.demand.listenersChanged();
    });
    try {
      if (track.beginCatchUp(this.cache.snapshot(), this.sharedOf)) {
        this.catchingUp.add(track);
        this.catchUpTurn ??= setImmediate(this.paceCatchUps);
      }
    } catch (err) {
      this.logger.warn(`viewer sink failed: ${(err as Error).message}`);
      track.stop('sink-failed');
    }
    if (this.demand) this.demand.listenersChanged();
    return track;
  }

  /**
   * One event-loop turn of the catch-ups: a few packets to each catching-up viewer in turn,
   * once each at least, then for at most CATCH_UP_SLICE_MS, then the next turn (after the I/O that waited: live
   * packets in, other viewers' handshakes). Live packets reach those viewers through
   * the catch-up (the cache holds them), so each viewer's packets stay in order.
   */
  private readonly paceCatchUps = (): void => {
    this.catchUpTurn = undefined;
    if (this.catchingUp.size === 0) return;
    const deadline = performance.now() + CATCH_UP_SLICE_MS;
    const current = this.cache.snapshot();
    // Every viewer in line gets at least one step per turn, whatever the slice: a burst of
    // joins would otherwise get less than the live rate between them, and fall behind live
    // until the next keyframe.
    let guaranteed = this.catchingUp.size;
    do {
      // The first in line gets a step and goes to the back (round robin across turns too).
      const track = this.catchingUp.values().next().value as SourceTrack;
      this.catchingUp.delete(track);
      let more = false;
      try {
        more = track.pace(CATCH_UP_STEP_PACKETS, current, this.sharedOf);
      } catch (err) {
        this.logger.warn(`viewer sink failed: ${(err as Error).message}`);
        track.stop('sink-failed');
      }
      if (more) this.catchingUp.add(track);
    } while (this.catchingUp.size > 0 && (--guaranteed > 0 || performance.now() < deadline));
    if (this.catchingUp.size > 0) this.catchUpTurn = setImmediate(this.paceCatchUps);
  };

  /**
   * Adds a tap (see `PublishTap`): the cached group of pictures is handed to it first (its
   * first packet flagged as the keyframe start), then every packet published. Returns the remover.
   */
  addPublishTap(tap: PublishTap): () => void {
    this.cache.snapshot().forEach((packet, i) => tap.packet(packet, i === 0));
    this.taps.add(tap);
    return () => this.taps.delete(tap);
  }

  /** Forgets the cached group of pictures (the next viewer waits for a keyframe). */
  protected dropCache(): void {
    this.cache.clear();
  }

  get viewers(): number {
    return this.tracks.size;
  }

  info(): SourceInfo {
    return {
      id: this.id,
      kind: this.kind,
      codec: this.codec,
      state: this.state,
      viewers: this.viewers,
      ...codecDescription(this.codecParameters()),
      ...(this.audioCodec ? { audioMimeType: this.audioCodecParameters()!.mimeType.toLowerCase() } : {}),
    };
  }

  /**
   * Fans an audio packet out to every audio listener (the same packet to each, prepared once
   * for the lean path). Its timestamps are at the codec's clock (48 kHz for Opus) and run on
   * for the source's life, as the video's do. Lip sync: each viewer's sender reports pair a
   * packet's RTP timestamp with the wall-clock time it was published (video and audio alike),
   * so the browser aligns both tracks on that one clock.
   */
  protected publishAudio(packet: RtpPacket): void {
    for (const tap of this.taps) tap.audio?.(packet);
    if (this.audioTracks.size === 0) return;
    const shared = this.audioHistory.push(packet);
    for (const track of this.audioTracks) {
      try {
        track.deliver(packet, noCache, shared);
      } catch (err) {
        this.logger.warn(`audio sink failed: ${(err as Error).message}`);
        track.stop('sink-failed');
      }
    }
  }

  /** Packets and payload bytes the source has published (metrics: input rate). */
  readonly input = { packets: 0, bytes: 0, keyframes: 0 };

  /**
   * Fans a packet out to every viewer; `keyframeStart` marks the first packet of a keyframe.
   * The packet is cached, prepared and tapped at once, but handed to the viewers with the rest
   * of its frame: at its frame's last packet (the marker bit), after FANOUT_BATCH_PACKETS,
   * when a packet of another frame comes, or at the end of this event-loop turn's I/O (a
   * setImmediate, for a frame whose marker was lost), whichever comes first. Each viewer is
   * then sent the batch's packets one after the other before the next viewer: one viewer's
   * state (its sender, keys, socket; werift's and the kernel's) is read once per batch, not
   * once per packet, which measured about a fifth less CPU per viewer-packet at 400-500
   * viewers (bench/fanout.mjs). A frame's last packet still goes out as soon as it is
   * published, so a frame is complete at the viewer no later than before: a file or the test
   * pattern publish a frame in one go; an ingest (RTP, RTSP) reads a frame's datagrams in one
   * or a few I/O turns.
   */
  protected publish(packet: RtpPacket, keyframeStart: boolean): void {
    // A batch is (part of) one frame: a packet of the next one sends what is pending first.
    if (this.pending.length > 0 && packet.header.timestamp !== this.pending[0].header.timestamp) this.flush();
    this.input.packets++;
    this.input.bytes += packet.payload.length;
    if (keyframeStart) this.input.keyframes++;
    this.cache.push(packet, keyframeStart);
    // Once per packet for all viewers: the lean path's payload copy, send times, history slot.
    const shared = this.history.push(packet);
    this.prepared.set(packet, shared);
    for (const tap of this.taps) tap.packet(packet, keyframeStart);
    this.pending.push(packet);
    this.pendingShared.push(shared);
    if (packet.header.marker || this.pending.length >= FANOUT_BATCH_PACKETS) {
      this.flush();
    } else {
      this.flushTurn ??= setImmediate(this.flushTask);
    }
  }

  /** Hands the pending packets to every viewer, viewer by viewer (see `publish`). */
  private flush(): void {
    const packets = this.pending;
    if (packets.length === 0) return;
    const shared = this.pendingShared;
    for (const track of this.tracks) {
      try {
        track.deliverBatch(packets, this.cached, shared, this.sharedOf);
      } catch (err) {
        // One broken viewer must not stop the others.
        this.logger.warn(`viewer sink failed: ${(err as Error).message}`);
        track.stop('sink-failed');
      }
    }
    packets.length = 0;
    shared.length = 0;
  }
}

/** Audio tracks replay nothing. */
const noCache = (): readonly RtpPacket[] => [];
