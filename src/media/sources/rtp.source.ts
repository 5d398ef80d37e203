import type { RTCRtpCodecParameters } from 'werift';
import { OPUS_PAYLOAD_TYPE, ProfileLevelIdOption, codecChoice } from '../codecs';
import { AudioCodecName, MediaSource, VideoCodecName } from '../media-source';
import { RtpReceiver, RtpReceiverStats } from './rtp-receiver';

// Their home is codecs.ts; still exported from here for code that imported them here.
export { DEFAULT_H264_PROFILE_LEVEL_ID, codecParametersFor } from '../codecs';
export type { ProfileLevelIdOption } from '../codecs';

export interface RtpSourceOptions {
  id: string;
  codec: VideoCodecName;
  /** UDP port to listen on (0 = ephemeral; read `port` after start). */
  port: number;
  /** Address to bind (default 127.0.0.1; 0.0.0.0 to take RTP from other hosts). */
  host?: string;
  /** The payload type the encoder sends (default 96); other payload types and RTCP are dropped. */
  payloadType?: number;
  /** No packet for this long (ms) makes the source `offline` (default 2000). */
  offlineAfterMs?: number;
  /** H.264 only: the profile-level-id to negotiate (default 42e01f; `auto` = from the SPS). */
  profileLevelId?: ProfileLevelIdOption;
  /**
   * Opus audio that the encoder sends to a second UDP port (on the same `host`): the source
   * then carries audio. `payloadType` defaults to 111. Example: ffmpeg's second output
   * `-c:a libopus -f rtp -payload_type 111 rtp://127.0.0.1:5006`.
   */
  audio?: { port: number; payloadType?: number };
}

/**
 * Kind `rtp`: takes RTP video (VP8, or H.264 packetization-mode 1) that any encoder sends
 * to a UDP port, and relays it to every viewer without transcoding; with `audio`, Opus RTP
 * on a second port too.
 *
 * The encoder must keep payloads at most 1200 bytes (ffmpeg: `-f rtp -pkt_size 1200`;
 * GStreamer: `rtpvp8pay mtu=1200`), or packets may be fragmented or lost on the way to
 * viewers; oversize packets are counted (`stats.oversize`) and logged. For H.264 the SPS
 * and PPS must be sent in band before each IDR (ffmpeg does this when encoding with
 * libx264; when copying from MP4 add `-bsf:v h264_mp4toannexb`, from RTSP
 * `-bsf:v dump_extra=freq=keyframe`).
 *
 * Example: `ffmpeg -re -i in.mp4 -an -c:v copy -bsf:v h264_mp4toannexb -f rtp -pkt_size 1200
 * -payload_type 96 rtp://127.0.0.1:5004`.
 *
 * State: `starting` until the first packet, `live` while packets flow, `offline` after
 * `offlineAfterMs` without a packet (`events` emits `state` at each change). Sequence
 * numbers and timestamps stay continuous when the encoder restarts.
 */
export class RtpSource extends MediaSource {
  readonly id: string;
  readonly kind = 'rtp';
  readonly codec: VideoCodecName;
  override readonly audioCodec?: AudioCodecName = undefined;
  protected override readonly reportsOwnState = true;
  private readonly receiver: RtpReceiver;
  private readonly audioReceiver?: RtpReceiver;
  private readonly codecFor: ReturnType<typeof codecChoice>;

  constructor(options: RtpSourceOptions) {
    super();
    this.id = options.id;
    this.codec = options.codec;
    this.codecFor = codecChoice(this.codec, options.profileLevelId);
    this.receiver = new RtpReceiver({
      codec: options.codec,
      port: options.port,
      host: options.host,
      payloadType: options.payloadType,
      offlineAfterMs: options.offlineAfterMs,
      logger: this.logger,
    });
    this.receiver.feed((packet, key) => this.publish(packet, key), (state) => this.setState(state));
    this.receiver.on('profile', (id) => this.logger.log(`H.264 stream profile-level-id ${id}`));
    if (options.audio) {
      this.audioCodec = 'opus';
      // The video's packets drive the source's state; the audio only follows.
      this.audioReceiver = new RtpReceiver({
        codec: 'opus',
        port: options.audio.port,
        host: options.host,
        payloadType: options.audio.payloadType ?? OPUS_PAYLOAD_TYPE,
        offlineAfterMs: options.offlineAfterMs,
        logger: this.logger,
      });
      this.audioReceiver.on('packet', (packet) => this.publishAudio(packet));
    }
  }

  /** The audio's UDP port (after start, with `audio`). */
  get audioPort(): number | undefined {
    return this.audioReceiver?.port;
  }

  /** The audio receiver's counters (with `audio`). */
  get audioStats(): Readonly<RtpReceiverStats> | undefined {
    return this.audioReceiver?.stats;
  }

  /** The UDP port (after start). */
  get port(): number {
    return this.receiver.port;
  }

  get stats(): Readonly<RtpReceiverStats> {
    return this.receiver.stats;
  }

  /** The profile-level-id of the stream's SPS (H.264, once seen). */
  get detectedProfileLevelId(): string | undefined {
    return this.receiver.profileLevelId;
  }

  override codecParameters(): RTCRtpCodecParameters {
    return this.codecFor(this.receiver.profileLevelId);
  }

  protected async start(): Promise<void> {
    await this.receiver.start();
    try {
      await this.audioReceiver?.start();
    } catch (err) {
      await this.receiver.stop();
      throw err;
    }
  }

  protected async stop(): Promise<void> {
    await this.receiver.stop();
    await this.audioReceiver?.stop();
  }
}
