import { Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { RtpPacket, RTCRtpCodecParameters, useVP8 } from 'werift';
import { codecDescription } from './codecs';
import { PacketHistory, SharedPacket } from './fanout/shared-packet';
import { KeyframeCache } from './keyframe-cache';
import { MediaSink, PictureLossOutcome, SourceTrack } from './source-track';

export type { MediaSink, PictureLossOutcome, SourceTrackStats } from './source-track';
export { SourceTrack } from './source-track';

/** A viewer's picture-loss requests are acted on at most this often (ms). */
export const PICTURE_LOSS_MIN_INTERVAL_MS = 1000;

export type VideoCodecName = 'VP8' | 'H264';

export type SourceState = 'starting' | 'live' | 'offline' | 'stopped';

/** Events of `MediaSource.events`. */
export interface MediaSourceEvents {
  /** The state changed (e.g. `live` -> `offline` when an ingest goes silent, and back). */
  state: [state: SourceState, previous: SourceState];
}

export interface SourceInfo {
  id: string;
  kind: string;
  codec: VideoCodecName;
  state: SourceState;
  viewers: number;
  /** The codec as `RTCRtpReceiver.getCapabilities('video')` lists it (`video/VP8`, `video/H264`). */
  mimeType: string;
  /** H.264: the parameters the server offers (profile-level-id, packetization-mode). */
  sdpFmtpLine?: string;
}

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
  private readonly cache = new KeyframeCache();
  /** What a track replays from; one function for the source, not one per packet. */
  private readonly cached = (): readonly RtpPacket[] => this.cache.snapshot();
  /**
   * The last packets published, each prepared once for every viewer's lean send path
   * (payload copy, send times); NACKs are answered from here.
   */
  private readonly history = new PacketHistory(1024);
  /** The preparation of each packet still referenced (the keyframe cache's, for replays). */
  private readonly prepared = new WeakMap<RtpPacket, SharedPacket>();
  private readonly sharedOf = (packet: RtpPacket): SharedPacket | undefined => this.prepared.get(packet);

  /** Begin producing packets. */
  protected abstract start(): Promise<void> | void;
  /** Stop producing packets and release everything (timers, sockets, child processes). */
  protected abstract stop(): Promise<void> | void;

  async onModuleInit(): Promise<void> {
    this.setState('starting');
    await this.start();
    if (this.state === 'starting' && !this.reportsOwnState) this.setState('live');
  }

  async onModuleDestroy(): Promise<void> {
    this.end('source-stopped');
    await this.stop();
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
    this.setState('stopped');
    this.cache.clear();
    this.history.clear();
    for (const t of [...this.tracks]) t.stop(reason);
    this.tracks.clear();
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
    track.scheduleReplay();
    return 'replay';
  }

  /** The codec werift negotiates for this source. */
  codecParameters(): RTCRtpCodecParameters {
    return useVP8();
  }

  /**
   * Adds a viewer. The viewer is sent the cached group of pictures at once (so it can
   * decode a picture without waiting for the next keyframe), then every live packet.
   */
  subscribe(sink: MediaSink): SourceTrack {
    const track = new SourceTrack(this.id, sink);
    if (this.ended) {
      track.stop('source-ended');
      return track;
    }
    for (const packet of this.cache.snapshot()) track.deliver(packet, this.cached, this.prepared.get(packet), this.sharedOf);
    this.tracks.add(track);
    track.once('ended', () => this.tracks.delete(track));
    return track;
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
    };
  }

  /** Fan a packet out to every viewer; `keyframeStart` marks the first packet of a keyframe. */
  protected publish(packet: RtpPacket, keyframeStart: boolean): void {
    this.cache.push(packet, keyframeStart);
    // Once per packet for all viewers: the lean path's payload copy, send times, history slot.
    const shared = this.history.push(packet);
    this.prepared.set(packet, shared);
    for (const track of this.tracks) {
      try {
        track.deliver(packet, this.cached, shared, this.sharedOf);
      } catch (err) {
        // One broken viewer must not stop the others.
        this.logger.warn(`viewer sink failed: ${(err as Error).message}`);
        track.stop('sink-failed');
      }
    }
  }
}
