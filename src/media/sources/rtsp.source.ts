import { RTCRtpCodecParameters } from 'werift';
import { AudioCodecName, MediaSource, VideoCodecName } from '../media-source';
import { BackoffOptions, FFMPEG_RTP_PAYLOAD_TYPE, FfmpegProcess, opusOutputArgs, rtpOutputArgs } from './ffmpeg-process';
import { RtpReceiver, RtpReceiverStats } from './rtp-receiver';
import { OPUS_PAYLOAD_TYPE, ProfileLevelIdOption, codecChoice } from '../codecs';

export interface RtspSourceOptions {
  id: string;
  /** rtsp://[user:pass@]host[:port]/path */
  url: string;
  /** The camera's video codec (default H264). */
  codec?: VideoCodecName;
  /** RTSP transport ffmpeg asks for (default tcp: works through NAT and firewalls, no loss). */
  transport?: 'tcp' | 'udp';
  /** No packet for this long (ms) makes the source `offline` (default 2000). */
  offlineAfterMs?: number;
  /** ffmpeg is restarted when no packet came for this long while it runs (ms, default 10000). */
  stallRestartMs?: number;
  /** Restart delays when ffmpeg dies (default 0.5 s doubling to 30 s, reset after 10 s of running). */
  backoff?: BackoffOptions;
  /** SIGTERM to SIGKILL on stop (ms, default 3000). */
  killTimeoutMs?: number;
  /** The ffmpeg binary (default `ffmpeg`). */
  ffmpegPath?: string;
  /** H.264 only: the profile-level-id to negotiate (default 42e01f; `auto` = from the SPS). */
  profileLevelId?: ProfileLevelIdOption;
  /**
   * Also relay the camera's audio (AAC, G.711, any codec ffmpeg decodes), transcoded to Opus
   * by the same ffmpeg (the video is still copied). Default false. The camera must send
   * audio: ffmpeg refuses to start an audio output without an audio stream.
   */
  audio?: boolean;
}

const PAYLOAD_TYPE = FFMPEG_RTP_PAYLOAD_TYPE;

/**
 * Kind `rtsp`: pulls a camera's (or any server's) RTSP stream with ffmpeg, without
 * transcoding (`-c:v copy`; with `audio`, the audio transcoded to Opus on a second output), repacketized to 1200-byte RTP and sent to an internal
 * `RtpReceiver` on an ephemeral loopback port. ffmpeg is restarted with exponential backoff
 * when it dies, and also when it stays silent for `stallRestartMs`; sequence numbers and
 * timestamps stay continuous across restarts. State: `starting`, then `live` while packets
 * flow, `offline` while ffmpeg is down or silent.
 */
export class RtspSource extends MediaSource {
  readonly id: string;
  readonly kind = 'rtsp';
  readonly codec: VideoCodecName;
  override readonly audioCodec?: AudioCodecName = undefined;
  protected override readonly reportsOwnState = true;
  private readonly receiver: RtpReceiver;
  /** The Opus from ffmpeg's second output (with `audio`). */
  private readonly audioReceiver?: RtpReceiver;
  readonly ffmpeg: FfmpegProcess;
  private readonly codecFor: ReturnType<typeof codecChoice>;
  private readonly stallRestartMs: number;
  private stallTimer?: NodeJS.Timeout;
  private lastPacketAt = 0;

  constructor(private readonly options: RtspSourceOptions) {
    super();
    if (!/^rtsps?:\/\//i.test(options.url)) throw new Error(`not an rtsp:// URL: ${redact(options.url)}`);
    this.id = options.id;
    this.codec = options.codec ?? 'H264';
    this.codecFor = codecChoice(this.codec, options.profileLevelId);
    this.stallRestartMs = options.stallRestartMs ?? 10_000;
    this.receiver = new RtpReceiver({
      codec: this.codec,
      port: 0,
      host: '127.0.0.1',
      payloadType: PAYLOAD_TYPE,
      offlineAfterMs: options.offlineAfterMs,
      logger: this.logger,
    });
    this.receiver.feed(
      (packet, key) => {
        this.lastPacketAt = performance.now();
        this.publish(packet, key);
      },
      (state) => this.setState(state),
    );
    if (options.audio) {
      this.audioCodec = 'opus';
      // The video's packets drive the source's state; the audio only follows.
      this.audioReceiver = new RtpReceiver({
        codec: 'opus',
        port: 0,
        host: '127.0.0.1',
        payloadType: OPUS_PAYLOAD_TYPE,
        offlineAfterMs: options.offlineAfterMs,
        logger: this.logger,
      });
      this.audioReceiver.on('packet', (packet) => this.publishAudio(packet));
    }
    this.ffmpeg = new FfmpegProcess({
      ffmpegPath: options.ffmpegPath,
      args: () => this.ffmpegArgs(),
      backoff: options.backoff,
      killTimeoutMs: options.killTimeoutMs,
      logger: this.logger,
    });
    this.ffmpeg.on('spawn', () => (this.lastPacketAt = performance.now()));
    this.ffmpeg.on('exit', () => this.receiver.markOffline());
  }

  /** The pid of the running ffmpeg, if any. */
  get ffmpegPid(): number | undefined {
    return this.ffmpeg.pid;
  }

  get stats(): Readonly<RtpReceiverStats> {
    return this.receiver.stats;
  }

  /** The internal loopback RTP port (after start). */
  get rtpPort(): number {
    return this.receiver.port;
  }

  get detectedProfileLevelId(): string | undefined {
    return this.receiver.profileLevelId;
  }

  override codecParameters(): RTCRtpCodecParameters {
    return this.codecFor(this.receiver.profileLevelId);
  }

  /** The internal loopback RTP port of the Opus audio (after start, with `audio`). */
  get audioRtpPort(): number | undefined {
    return this.audioReceiver?.port;
  }

  /** The audio receiver's counters (with `audio`). */
  get audioStats(): Readonly<RtpReceiverStats> | undefined {
    return this.audioReceiver?.stats;
  }

  /** The ffmpeg arguments (for the receiver's current port). */
  ffmpegArgs(): string[] {
    const port = this.receiver.port;
    return [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      '-rtsp_transport',
      this.options.transport ?? 'tcp',
      // Socket I/O timeout (µs): a server that stops answering makes ffmpeg exit.
      '-timeout',
      '5000000',
      '-i',
      this.options.url,
      ...(this.audioReceiver ? ['-map', '0:v:0'] : []),
      '-an',
      '-c:v',
      'copy',
      // H.264 from RTSP usually has SPS/PPS only in the SDP: put them before every keyframe.
      ...(this.codec === 'H264' ? ['-bsf:v', 'dump_extra=freq=keyframe'] : []),
      ...rtpOutputArgs(port),
      ...(this.audioReceiver ? opusOutputArgs(this.audioReceiver.port, OPUS_PAYLOAD_TYPE) : []),
    ];
  }

  protected async start(): Promise<void> {
    await this.receiver.start();
    try {
      await this.audioReceiver?.start();
    } catch (err) {
      await this.receiver.stop();
      throw err;
    }
    this.ffmpeg.start();
    const every = Math.max(100, Math.min(1000, Math.floor(this.stallRestartMs / 4)));
    this.stallTimer = setInterval(() => {
      const pid = this.ffmpeg.pid;
      if (pid !== undefined && performance.now() - this.lastPacketAt > this.stallRestartMs) {
        this.logger.warn(`no RTP from ffmpeg ${pid} for ${this.stallRestartMs} ms: restarting it`);
        this.lastPacketAt = performance.now();
        void this.ffmpeg.kill('SIGKILL');
      }
    }, every);
    this.stallTimer.unref();
  }

  protected async stop(): Promise<void> {
    clearInterval(this.stallTimer);
    this.stallTimer = undefined;
    await this.ffmpeg.stop();
    await this.receiver.stop();
    await this.audioReceiver?.stop();
  }
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
