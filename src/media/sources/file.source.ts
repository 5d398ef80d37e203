import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { RTCRtpCodecParameters } from 'werift';
import { AudioCodecName, MediaSource, VideoCodecName } from '../media-source';
import { BackoffOptions, FFMPEG_RTP_PAYLOAD_TYPE, FfmpegProcess, opusOutputArgs, rtpOutputArgs } from './ffmpeg-process';
import { IvfPlayer } from './ivf-player';
import { RtpReceiver, RtpReceiverStats } from './rtp-receiver';
import { OPUS_PAYLOAD_TYPE, ProfileLevelIdOption, codecChoice } from '../codecs';

export type FileContainer = 'ivf' | 'webm' | 'mp4';

export interface FileSourceOptions {
  id: string;
  /** An IVF (VP8), WebM (VP8) or MP4/MOV (H.264) file. */
  path: string;
  /** Play forever (default true) or once; played once, the source ends at the end of the file. */
  loop?: boolean;
  /** The container, when the file name's extension does not tell. */
  container?: FileContainer;
  /** H.264 only: the profile-level-id to negotiate (default 42e01f; `auto` = the file's own). */
  profileLevelId?: ProfileLevelIdOption;
  /** The ffmpeg binary (default `ffmpeg`); ffprobe is looked up beside it. */
  ffmpegPath?: string;
  /** No packet for this long (ms) makes the source `offline` (default 2000). */
  offlineAfterMs?: number;
  /** Restart delays when a looping ffmpeg dies (default 0.5 s doubling to 30 s). */
  backoff?: BackoffOptions;
  /**
   * Also play the file's first audio stream, transcoded to Opus by ffmpeg (WebM/MP4 only:
   * IVF holds no audio). Default false. A file without audio fails to start.
   */
  audio?: boolean;
}

const PAYLOAD_TYPE = FFMPEG_RTP_PAYLOAD_TYPE;

/** The container of a file, from its extension. */
export function containerOf(path: string): FileContainer | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.ivf') return 'ivf';
  if (ext === '.webm' || ext === '.mkv') return 'webm';
  if (ext === '.mp4' || ext === '.m4v' || ext === '.mov') return 'mp4';
  return undefined;
}

/**
 * Kind `file`: plays a video file in real time without transcoding, looped or once.
 * IVF (VP8) is read into memory and packetized in-process (no ffmpeg); WebM (VP8) and MP4
 * (H.264, any profile the browsers decode, no B-frames advised) are played by
 * `ffmpeg -re [-stream_loop -1] -i FILE -an -c:v copy -f rtp -pkt_size 1200` into an
 * internal `RtpReceiver` on an ephemeral loopback port. Sequence numbers and timestamps run
 * on across loops and ffmpeg restarts. Played once, the source ends (`source-ended`: every
 * viewer's track ends) when the file does.
 */
export class FileSource extends MediaSource {
  readonly id: string;
  readonly kind = 'file';
  readonly codec: VideoCodecName;
  readonly container: FileContainer;
  readonly loop: boolean;
  override readonly audioCodec?: AudioCodecName = undefined;
  protected override readonly reportsOwnState: boolean;
  private audioReceiver?: RtpReceiver;
  private readonly codecFor: ReturnType<typeof codecChoice>;
  private fileProfileLevelId?: string;
  private player?: IvfPlayer;
  private receiver?: RtpReceiver;
  private ffmpeg?: FfmpegProcess;
  private stopping = false;
  private lastRtpPort?: number;
  private tempDir?: string;
  private concatList?: string;

  constructor(private readonly options: FileSourceOptions) {
    super();
    const container = options.container ?? containerOf(options.path);
    if (!container) throw new Error(`${options.path}: unknown container (expected .ivf, .webm or .mp4)`);
    this.id = options.id;
    this.container = container;
    this.codec = container === 'mp4' ? 'H264' : 'VP8';
    this.loop = options.loop ?? true;
    this.codecFor = codecChoice(this.codec, options.profileLevelId);
    if (options.audio) {
      if (container === 'ivf') throw new Error(`${options.path}: an IVF file has no audio (use WebM or MP4 for audio)`);
      this.audioCodec = 'opus';
    }
    // The in-process IVF player is live from the start; ffmpeg playback is live on its packets.
    this.reportsOwnState = container !== 'ivf';
  }

  /** The pid of the running ffmpeg (WebM/MP4), if any. */
  get ffmpegPid(): number | undefined {
    return this.ffmpeg?.pid;
  }

  /** The internal loopback RTP port (WebM/MP4; the last one used, after stop). */
  get rtpPort(): number | undefined {
    return this.lastRtpPort;
  }

  get stats(): Readonly<RtpReceiverStats> | undefined {
    return this.receiver?.stats;
  }

  override codecParameters(): RTCRtpCodecParameters {
    return this.codecFor(this.receiver?.profileLevelId ?? this.fileProfileLevelId);
  }

  protected async start(): Promise<void> {
    this.stopping = false;
    if (this.container === 'ivf') {
      this.player = new IvfPlayer({
        data: await readFile(this.options.path),
        loop: this.loop,
        payloadType: PAYLOAD_TYPE,
        onPacket: (packet, key) => this.publish(packet, key),
        onEnd: () => this.finish(),
      });
      this.player.start();
      return;
    }
    const probe = await probeVideo(this.ffprobePath(), this.options.path);
    const expected = this.codec === 'H264' ? 'h264' : 'vp8';
    if (probe.codec !== expected) {
      throw new Error(`${this.options.path}: expected ${expected} video, found ${probe.codec ?? 'no video'}`);
    }
    this.fileProfileLevelId = probe.profileLevelId;
    if (this.codec === 'H264') {
      this.tempDir = await mkdtemp(join(tmpdir(), 'file-source-'));
      this.concatList = join(this.tempDir, 'input.ffconcat');
      const quoted = resolve(this.options.path).replace(/'/g, "'\\''");
      await writeFile(this.concatList, `ffconcat version 1.0\nfile '${quoted}'\n`);
    }
    const receiver = new RtpReceiver({
      codec: this.codec,
      port: 0,
      payloadType: PAYLOAD_TYPE,
      offlineAfterMs: this.options.offlineAfterMs,
      logger: this.logger,
    });
    this.receiver = receiver;
    receiver.feed((packet, key) => this.publish(packet, key), (state) => this.setState(state));
    await receiver.start();
    this.lastRtpPort = receiver.port;
    let audio: RtpReceiver | undefined;
    if (this.audioCodec) {
      audio = new RtpReceiver({ codec: 'opus', port: 0, payloadType: OPUS_PAYLOAD_TYPE, offlineAfterMs: this.options.offlineAfterMs, logger: this.logger });
      this.audioReceiver = audio;
      audio.on('packet', (packet) => this.publishAudio(packet));
      await audio.start();
    }
    this.ffmpeg = new FfmpegProcess({
      ffmpegPath: this.options.ffmpegPath,
      args: () => this.ffmpegArgs(receiver.port, audio?.port),
      restart: this.loop,
      backoff: this.options.backoff,
      logger: this.logger,
    });
    this.ffmpeg.on('exit', (code, signal) => {
      if (this.stopping) return;
      if (this.loop) {
        receiver.markOffline();
        return;
      }
      if (code !== 0) {
        this.logger.error(
          `ffmpeg failed on ${this.options.path} (${signal ?? `code ${code}`}): ${this.ffmpeg?.stderrTail.slice(-3).join(' | ')}`,
        );
      }
      // Let the last datagrams on the socket be read before ending.
      setTimeout(() => this.finish(code === 0 ? 'source-ended' : 'source-failed'), 100);
    });
    this.ffmpeg.start();
  }

  /** The ffmpeg arguments for WebM/MP4 playback to `port` (and the audio to `audioPort`). */
  ffmpegArgs(port: number, audioPort?: number): string[] {
    // MP4 keeps SPS/PPS out of band (avcC); they must go in band before every IDR. The
    // h264_mp4toannexb output filter does it but breaks at the first -stream_loop wrap in
    // ffmpeg 5.1 ("A non-NULL packet sent after an EOF"); the concat demuxer converts to
    // Annex B itself (auto_convert) and loops cleanly, so H.264 is read through a one-line
    // ffconcat list.
    const input = this.concatList ? ['-f', 'concat', '-safe', '0', '-i', this.concatList] : ['-i', this.options.path];
    return [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      '-re',
      ...(this.loop ? ['-stream_loop', '-1'] : []),
      ...input,
      ...(audioPort !== undefined ? ['-map', '0:v:0'] : []),
      '-an',
      '-c:v',
      'copy',
      ...rtpOutputArgs(port),
      ...(audioPort !== undefined ? opusOutputArgs(audioPort, OPUS_PAYLOAD_TYPE) : []),
    ];
  }

  protected async stop(): Promise<void> {
    this.stopping = true;
    this.player?.stop();
    this.player = undefined;
    await this.ffmpeg?.stop();
    this.ffmpeg = undefined;
    await this.receiver?.stop();
    this.receiver = undefined;
    await this.audioReceiver?.stop();
    this.audioReceiver = undefined;
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
    this.tempDir = undefined;
    this.concatList = undefined;
  }

  /** The file played once has ended: end every viewer's track and release everything. */
  private finish(reason = 'source-ended'): void {
    if (this.stopping || this.ended) return;
    this.logger.log(`${this.options.path}: ${reason}`);
    this.end(reason);
    void this.stop();
  }

  private ffprobePath(): string {
    const ff = this.options.ffmpegPath;
    if (!ff) return 'ffprobe';
    return ff.replace(/ffmpeg(\.exe)?$/, 'ffprobe$1');
  }
}

export interface VideoProbe {
  codec?: string;
  /** H.264: profile_idc, constraint flags and level_idc from the avcC record (6 hex digits). */
  profileLevelId?: string;
}

/** Reads the first video stream's codec (and H.264 profile-level-id) with ffprobe. */
export function probeVideo(ffprobe: string, path: string, timeoutMs = 10_000): Promise<VideoProbe> {
  const args = [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,extradata',
    '-show_data',
    '-of',
    'json',
    path,
  ];
  return new Promise((resolve, reject) => {
    execFile(ffprobe, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`ffprobe ${path}: ${String(stderr).trim() || err.message}`));
        return;
      }
      try {
        const stream = (JSON.parse(stdout) as { streams?: { codec_name?: string; extradata?: string }[] }).streams?.[0];
        resolve({ codec: stream?.codec_name, profileLevelId: avcCProfileLevelId(stream?.extradata) });
      } catch (e) {
        reject(new Error(`ffprobe ${path}: unreadable output (${(e as Error).message})`));
      }
    });
  });
}

/** The profile-level-id of an avcC record in ffprobe's hex dump (`00000000: 0142 c00d ...`). */
export function avcCProfileLevelId(dump: string | undefined): string | undefined {
  const m = dump && /00000000: ((?:[0-9a-f]{4} ?){2})/i.exec(dump);
  if (!m) return undefined;
  const hex = m[1].replace(/ /g, '').toLowerCase();
  return hex.startsWith('01') ? hex.slice(2, 8) : undefined;
}
