import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';

/** Payload type ffmpeg is told to use for the RTP it sends to our loopback receiver. */
export const FFMPEG_RTP_PAYLOAD_TYPE = 96;

/**
 * ffmpeg output arguments: video as RTP to our receiver on 127.0.0.1:`port`, with packets
 * small enough for SRTP in a 1200-byte budget, and RTCP to the same port (dropped there)
 * rather than port+1, which may be someone else's.
 */
export function rtpOutputArgs(port: number): string[] {
  return [
    '-f',
    'rtp',
    '-pkt_size',
    '1200',
    '-payload_type',
    String(FFMPEG_RTP_PAYLOAD_TYPE),
    `rtp://127.0.0.1:${port}?rtcpport=${port}`,
  ];
}

/**
 * ffmpeg arguments for a second output: the input's first audio stream transcoded to Opus
 * (48 kHz stereo, 20 ms frames, 64 kb/s) as RTP to our receiver on 127.0.0.1:`port`. Cameras
 * send AAC or G.711, which browsers cannot take over WebRTC; only the audio is transcoded.
 * Put it after the video output's arguments (each output takes the options before it).
 */
export function opusOutputArgs(port: number, payloadType: number): string[] {
  return [
    '-map',
    '0:a:0',
    '-c:a',
    'libopus',
    '-ar',
    '48000',
    '-ac',
    '2',
    '-b:a',
    '64k',
    '-frame_duration',
    '20',
    '-application',
    'lowdelay',
    '-f',
    'rtp',
    '-payload_type',
    String(payloadType),
    `rtp://127.0.0.1:${port}?rtcpport=${port}`,
  ];
}

export interface BackoffOptions {
  /** First restart delay (ms, default 500). */
  initialMs?: number;
  /** Longest restart delay (ms, default 30000); the delay doubles up to it. */
  maxMs?: number;
  /** A run at least this long (ms, default 10000) resets the delay to `initialMs`. */
  stableMs?: number;
}

export interface FfmpegProcessOptions {
  /** The ffmpeg binary (default `ffmpeg` from PATH). */
  ffmpegPath?: string;
  /** The arguments (without the binary), built afresh for every spawn. */
  args: () => string[];
  /** Restart the process whenever it exits (default true). */
  restart?: boolean;
  backoff?: BackoffOptions;
  /** How long `stop()` waits after SIGTERM before SIGKILL (ms, default 3000). */
  killTimeoutMs?: number;
  logger?: Logger;
}

export interface FfmpegProcessEvents {
  spawn: [pid: number];
  /** The process ended (code null when killed by a signal or when it could not be spawned). */
  exit: [code: number | null, signal: NodeJS.Signals | null, ranMs: number];
  /** A restart is scheduled after `delayMs`. */
  restarting: [delayMs: number];
}

/** Every ffmpeg child still running, killed if the Node process exits first. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

/**
 * Runs one ffmpeg process and keeps it running: when it dies it is started again after a
 * delay that doubles from `initialMs` to `maxMs` (reset once a run lasted `stableMs`).
 * `stop()` sends SIGTERM, then SIGKILL after `killTimeoutMs`, and resolves once the child
 * has exited; no child outlives it (nor the Node process, on a normal exit).
 * Spawned with an argument array (no shell); stdin/stdout ignored, stderr logged.
 */
export class FfmpegProcess extends EventEmitter<FfmpegProcessEvents> {
  private readonly ffmpegPath: string;
  private readonly restart: boolean;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;
  private readonly killTimeoutMs: number;
  private readonly logger: Logger;
  private child?: ChildProcess;
  private childExited?: Promise<void>;
  private restartTimer?: NodeJS.Timeout;
  private delayMs: number;
  private running = false;
  private _spawns = 0;
  /** The last lines ffmpeg wrote to stderr. */
  readonly stderrTail: string[] = [];

  constructor(private readonly options: FfmpegProcessOptions) {
    super();
    this.ffmpegPath = options.ffmpegPath ?? 'ffmpeg';
    this.restart = options.restart ?? true;
    this.initialMs = options.backoff?.initialMs ?? 500;
    this.maxMs = options.backoff?.maxMs ?? 30_000;
    this.stableMs = options.backoff?.stableMs ?? 10_000;
    this.killTimeoutMs = options.killTimeoutMs ?? 3000;
    this.logger = options.logger ?? new Logger(FfmpegProcess.name);
    this.delayMs = this.initialMs;
  }

  /** The pid of the running child, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How many times a child has been spawned. */
  get spawns(): number {
    return this._spawns;
  }

  /** The delay before the next restart (ms). */
  get nextDelayMs(): number {
    return this.delayMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    installExitHook();
    this.spawnChild();
  }

  /** Kills the child if it runs (SIGTERM, then SIGKILL) and cancels restarts. Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.killChild();
  }

  /** Kills the current child (it is restarted as after a crash, if restarts are on). */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.child?.kill(signal);
    await this.childExited;
  }

  private async killChild(): Promise<void> {
    const child = this.child;
    const exited = this.childExited;
    if (!child || !exited) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.killTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.warn(`ffmpeg ${child.pid} ignored SIGTERM for ${this.killTimeoutMs} ms: SIGKILL`);
      child.kill('SIGKILL');
      await exited;
    }
  }

  private spawnChild(): void {
    this.restartTimer = undefined;
    if (!this.running) return;
    const args = this.options.args();
    const startedAt = performance.now();
    const child = spawn(this.ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this._spawns++;
    this.child = child;
    liveChildren.add(child);
    let done = false;
    let resolveExit!: () => void;
    this.childExited = new Promise<void>((r) => (resolveExit = r));
    const onEnd = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      liveChildren.delete(child);
      if (this.child === child) {
        this.child = undefined;
      }
      const ranMs = performance.now() - startedAt;
      resolveExit();
      this.emit('exit', code, signal, ranMs);
      if (!this.running) return;
      if (!this.restart) {
        this.running = false;
        return;
      }
      if (ranMs >= this.stableMs) this.delayMs = this.initialMs;
      const delay = this.delayMs;
      this.delayMs = Math.min(this.delayMs * 2, this.maxMs);
      this.logger.warn(
        `ffmpeg exited (${signal ?? `code ${code}`}) after ${Math.round(ranMs)} ms; restarting in ${delay} ms` +
          (this.stderrTail.length ? `: ${this.stderrTail[this.stderrTail.length - 1]}` : ''),
      );
      this.emit('restarting', delay);
      this.restartTimer = setTimeout(() => this.spawnChild(), delay);
    };
    child.once('error', (err) => {
      this.logger.error(`ffmpeg could not run (${this.ffmpegPath}): ${err.message}`);
      onEnd(null, null);
    });
    child.once('exit', onEnd);
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        this.logger.debug(`ffmpeg: ${line}`);
      }
    });
    if (child.pid !== undefined) this.emit('spawn', child.pid);
  }
}
