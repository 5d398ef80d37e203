import { RTCRtpCodecParameters } from 'werift';
import { MediaSource, VideoCodecName } from '../media-source';
import { BackoffOptions, FFMPEG_RTP_PAYLOAD_TYPE, FfmpegProcess, rtpOutputArgs } from './ffmpeg-process';
import { RtpReceiver, RtpReceiverStats } from './rtp-receiver';
import { ProfileLevelIdOption, codecChoice } from '../codecs';

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
}

const PAYLOAD_TYPE = FFMPEG_RTP_PAYLOAD_TYPE;

/**
 * Kind `rtsp`: pulls a camera's (or any server's) RTSP stream with ffmpeg, without
 * transcoding (`-c:v copy`), repacketized to 1200-byte RTP and sent to an internal
 * `RtpReceiver` on an ephemeral loopback port. ffmpeg is restarted with exponential backoff
 * when it dies, and also when it stays silent for `stallRestartMs`; sequence numbers and
 * timestamps stay continuous across restarts. State: `starting`, then `live` while packets
 * flow, `offline` while ffmpeg is down or silent.
 */
export class RtspSource extends MediaSource {
  readonly id: string;
  readonly kind = 'rtsp';
  readonly codec: VideoCodecName;
  protected override readonly reportsOwnState = true;
  private readonly receiver: RtpReceiver;
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
      '-an',
      '-c:v',
      'copy',
      // H.264 from RTSP usually has SPS/PPS only in the SDP: put them before every keyframe.
      ...(this.codec === 'H264' ? ['-bsf:v', 'dump_extra=freq=keyframe'] : []),
      ...rtpOutputArgs(port),
    ];
  }

  protected async start(): Promise<void> {
    await this.receiver.start();
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
  }
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
