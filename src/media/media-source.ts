import { Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { RtpPacket, RTCRtpCodecParameters, useVP8 } from 'werift';
import { KeyframeCache } from './keyframe-cache';

export type VideoCodecName = 'VP8';

/** Receives a source's RTP packets. Must not throw; must not keep the packet beyond the call. */
export type MediaSink = (packet: RtpPacket) => void;

export interface MediaSubscription {
  unsubscribe(): void;
}

export type SourceState = 'starting' | 'live' | 'offline' | 'stopped';

export interface SourceInfo {
  id: string;
  kind: string;
  codec: VideoCodecName;
  state: SourceState;
  viewers: number;
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
  protected state: SourceState = 'stopped';
  private readonly sinks = new Set<MediaSink>();
  private readonly cache = new KeyframeCache();

  /** Begin producing packets. */
  protected abstract start(): Promise<void> | void;
  /** Stop producing packets and release everything (timers, sockets, child processes). */
  protected abstract stop(): Promise<void> | void;

  async onModuleInit(): Promise<void> {
    this.state = 'starting';
    await this.start();
    this.state = 'live';
  }

  async onModuleDestroy(): Promise<void> {
    this.state = 'stopped';
    this.sinks.clear();
    this.cache.clear();
    await this.stop();
  }

  /** The codec werift negotiates for this source. */
  codecParameters(): RTCRtpCodecParameters {
    return useVP8();
  }

  /**
   * Adds a viewer. The viewer is sent the cached group of pictures at once (so it can
   * decode a picture without waiting for the next keyframe), then every live packet.
   */
  subscribe(sink: MediaSink): MediaSubscription {
    for (const packet of this.cache.snapshot()) sink(packet);
    this.sinks.add(sink);
    return { unsubscribe: () => void this.sinks.delete(sink) };
  }

  get viewers(): number {
    return this.sinks.size;
  }

  info(): SourceInfo {
    return { id: this.id, kind: this.kind, codec: this.codec, state: this.state, viewers: this.viewers };
  }

  /** Fan a packet out to every viewer; `keyframeStart` marks the first packet of a keyframe. */
  protected publish(packet: RtpPacket, keyframeStart: boolean): void {
    this.cache.push(packet, keyframeStart);
    for (const sink of this.sinks) {
      try {
        sink(packet);
      } catch (err) {
        // One broken viewer must not stop the others.
        this.logger.warn(`viewer sink failed: ${(err as Error).message}`);
        this.sinks.delete(sink);
      }
    }
  }
}
