import { RTCRtpCodecParameters, RtpPacket } from 'werift';
import { AudioCodecName, MediaSource, SourceState, SourceTrack, VideoCodecName } from '../media/media-source';
import type { MediaSink } from '../media/source-track';
import type { CodecFields, SourceDescription } from './messages';
import { PacketRingReader, RingPacket } from './packet-ring';

/**
 * A media worker's stand-in for a main-thread source: the same MediaSource API for the
 * sessions hosted here (subscribe, tracks, keyframe cache, PLI replay, state events), fed from
 * the source's shared ring instead of an ingest. It reads every packet, viewers or not, so its
 * keyframe cache is always the source's current group of pictures; it starts reading at the
 * ring's last keyframe, so a worker that starts late has it at once too. A source with sound
 * has a second ring for its audio, read the same way into `publishAudio` (from the live end:
 * Opus needs no keyframe), so the sessions here negotiate, feed, stop and resume their audio
 * as on one thread.
 *
 * Demand (an on-demand source runs only while watched) is the main thread's: the worker tells
 * it each feed that starts and ends (`onDemand`). A PLI that the source could answer with a
 * new keyframe is passed on (`onKeyframe`).
 */
export class WorkerSource extends MediaSource {
  readonly id: string;
  readonly kind: string;
  readonly codec: VideoCodecName;
  override readonly audioCodec?: AudioCodecName = undefined;
  private readonly codecFields: CodecFields;
  private readonly reader: PacketRingReader;
  private readonly audioReader?: PacketRingReader;
  private reading = true;
  /** Whether the main thread's source made a keyframe when last asked (it answers each request). */
  private sourceMakesKeyframes = false;

  constructor(
    desc: SourceDescription,
    private readonly hooks: { onDemand(delta: 1 | -1, kind: 'video' | 'audio'): void; onKeyframe(): void },
  ) {
    super();
    this.id = desc.id;
    this.kind = desc.kind;
    this.codec = desc.codec;
    this.codecFields = desc.codecParameters;
    this.state = desc.state;
    this.reader = new PacketRingReader(desc.ring);
    void this.readLoop(this.reader, (p) => this.publish(RtpPacket.deSerialize(p.data), p.keyframe));
    if (desc.audio) {
      this.audioCodec = desc.audio.codec;
      this.audioReader = new PacketRingReader(desc.audio.ring);
      void this.readLoop(this.audioReader, (p) => this.publishAudio(RtpPacket.deSerialize(p.data)));
    }
  }

  protected start(): void {}
  protected stop(): void {
    this.reading = false;
  }

  override codecParameters(): RTCRtpCodecParameters {
    return codecOf(this.codecFields);
  }

  override subscribe(sink: MediaSink): SourceTrack {
    const track = super.subscribe(sink);
    if (!track.ended) {
      this.hooks.onDemand(1, 'video');
      track.once('ended', () => this.hooks.onDemand(-1, 'video'));
    }
    return track;
  }

  override subscribeAudio(sink: MediaSink): SourceTrack {
    const track = super.subscribeAudio(sink);
    // An audio feed is demand too (an on-demand source runs for its audio listeners), not a viewer.
    if (!track.ended) {
      this.hooks.onDemand(1, 'audio');
      track.once('ended', () => this.hooks.onDemand(-1, 'audio'));
    }
    return track;
  }

  override requestKeyframe(): boolean {
    this.hooks.onKeyframe();
    return this.sourceMakesKeyframes;
  }

  /** The main thread's answer to the last keyframe request. */
  keyframeAnswer(can: boolean): void {
    this.sourceMakesKeyframes = can;
  }

  /** The main thread's source changed state. */
  sourceState(state: SourceState): void {
    if (state === 'idle') this.dropCache();
    this.setState(state);
  }

  /** The main thread's source ended: every feed here ends with its reason. */
  sourceEnded(reason: string): void {
    this.end(reason);
  }

  /** Packets the worker skipped because it fell a whole ring behind (video and audio). */
  get lost(): number {
    return this.reader.lost + (this.audioReader?.lost ?? 0);
  }

  close(): void {
    this.reading = false;
  }

  /**
   * Publishes what the ring holds, a batch per event-loop turn. It yields between batches even
   * when more is waiting: a worker that fell behind must still run its sockets, timers and
   * messages (ICE consent, RTCP, close), or its viewers would lose consent and its sessions
   * could not close.
   */
  private async readLoop(reader: PacketRingReader, publish: (p: RingPacket) => void): Promise<void> {
    while (this.reading) {
      let n = 0;
      for (let p = reader.read(); p && this.reading; p = n < READ_BATCH ? reader.read() : undefined) {
        publish(p);
        n++;
      }
      const wait = n < READ_BATCH ? reader.waitAsync() : undefined;
      if (wait) await wait;
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** Packets published per event-loop turn at most (see readLoop). */
const READ_BATCH = 32;

export function codecOf(f: CodecFields): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: f.mimeType,
    clockRate: f.clockRate,
    ...(f.payloadType !== undefined ? { payloadType: f.payloadType } : {}),
    ...(f.channels !== undefined ? { channels: f.channels } : {}),
    ...(f.parameters !== undefined ? { parameters: f.parameters } : {}),
    ...(f.rtcpFeedback ? { rtcpFeedback: f.rtcpFeedback.map((fb) => ({ ...fb })) } : {}),
  });
}

export function codecFieldsOf(c: RTCRtpCodecParameters): CodecFields {
  return {
    mimeType: c.mimeType,
    clockRate: c.clockRate,
    ...(c.payloadType !== undefined ? { payloadType: c.payloadType } : {}),
    ...(c.channels !== undefined ? { channels: c.channels } : {}),
    ...(c.parameters !== undefined ? { parameters: c.parameters } : {}),
    rtcpFeedback: (c.rtcpFeedback ?? []).map((fb) => ({ type: fb.type, ...(fb.parameter !== undefined ? { parameter: fb.parameter } : {}) })),
  };
}
