import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RtpPacket } from 'werift';
import type { MediaSource, SourceState } from '../../media-source';
import { countOwnUdpSockets } from '../../../../test/helpers/udp-sockets';

/** Runs ffmpeg to completion (args array, no shell). */
export function ffmpeg(args: string[], timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { timeout: timeoutMs }, (err, _o, stderr) =>
      err ? reject(new Error(`ffmpeg ${args.join(' ')}: ${stderr || err.message}`)) : resolve(),
    );
  });
}

export interface Fixtures {
  dir: string;
  /** 2 s VP8 320x240 30 fps, keyframe every 30 frames. */
  webm: string;
  ivf: string;
  /** 2 s H.264 constrained baseline, keyframe every 30 frames, no B-frames. */
  mp4: string;
  cleanup(): void;
}

/** Makes small clips in a temp dir. */
export async function makeFixtures(seconds = 2): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'media-sources-'));
  const src = ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`];
  const vp8 = ['-c:v', 'libvpx', '-g', '30', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8'];
  const fx: Fixtures = {
    dir,
    webm: join(dir, 'clip.webm'),
    ivf: join(dir, 'clip.ivf'),
    mp4: join(dir, 'clip.mp4'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  await Promise.all([
    ffmpeg([...src, ...vp8, fx.webm]),
    ffmpeg([...src, ...vp8, '-f', 'ivf', fx.ivf]),
    ffmpeg([...src, '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '30', '-bf', '0', fx.mp4]),
  ]);
  return fx;
}

/** ffmpeg's encoder arguments for the live test picture: VP8 or H.264 Constrained Baseline, a keyframe a second. */
function testVideoEncoder(codec: 'VP8' | 'H264'): string[] {
  return codec === 'VP8'
    ? ['-c:v', 'libvpx', '-g', '30', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8']
    : ['-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '30', '-bf', '0', '-tune', 'zerolatency'];
}

/** Runs ffmpeg in real time on the live test picture (input 0) and, with `tone`, a 440 Hz tone (input 1). */
function spawnTestFfmpeg(output: string[], tone?: { sampleRate: number }): ChildProcess {
  const inputs = ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30'];
  if (tone) inputs.push('-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${tone.sampleRate}`);
  return spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...inputs, ...output], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** RTP output arguments to 127.0.0.1:port (RTCP to the same port). */
function rtpTo(port: number, payloadType: number, pktSize = 1200): string[] {
  return ['-f', 'rtp', '-pkt_size', String(pktSize), '-payload_type', String(payloadType), `rtp://127.0.0.1:${port}?rtcpport=${port}`];
}

/** Starts a long-running ffmpeg that sends a live test picture as RTP to 127.0.0.1:port. */
export function spawnRtpSender(opts: { port: number; codec: 'VP8' | 'H264'; payloadType: number; pktSize?: number }): ChildProcess {
  return spawnTestFfmpeg([...testVideoEncoder(opts.codec), ...rtpTo(opts.port, opts.payloadType, opts.pktSize)]);
}

/**
 * Starts a long-running ffmpeg that sends a live test picture (VP8 or H.264) and a 440 Hz
 * tone (Opus) as two RTP streams to 127.0.0.1:videoPort and :audioPort.
 */
export function spawnRtpAvSender(opts: {
  videoPort: number;
  audioPort: number;
  codec: 'VP8' | 'H264';
  videoPayloadType?: number;
  audioPayloadType?: number;
}): ChildProcess {
  return spawnTestFfmpeg(
    [
      ...['-map', '0:v', ...testVideoEncoder(opts.codec), ...rtpTo(opts.videoPort, opts.videoPayloadType ?? 96)],
      ...['-map', '1:a', '-c:a', 'libopus', '-ac', '2', '-b:a', '64k', ...rtpTo(opts.audioPort, opts.audioPayloadType ?? 111)],
    ],
    { sampleRate: 48000 },
  );
}

/**
 * Starts a long-running ffmpeg that plays a camera: a live H.264 (or VP8) test picture and a
 * 440 Hz tone in AAC (or G.711 µ-law), published to an RTSP server (`RtspRelayServer`) over TCP.
 */
export function spawnRtspCamera(url: string, audio: 'aac' | 'pcm_mulaw' = 'aac', video: 'H264' | 'VP8' = 'H264'): ChildProcess {
  const audioArgs = audio === 'aac' ? ['-c:a', 'aac', '-b:a', '64k'] : ['-c:a', 'pcm_mulaw', '-ar', '8000', '-ac', '1'];
  return spawnTestFfmpeg(
    ['-map', '0:v', '-map', '1:a', ...testVideoEncoder(video), ...audioArgs, '-f', 'rtsp', '-rtsp_transport', 'tcp', url],
    { sampleRate: audio === 'aac' ? 44100 : 8000 },
  );
}

/** Kills a child and waits for it to be gone (SIGKILL after 3 s). */
export async function killChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Whether a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids of this process's children that are still alive, optionally only those whose command name matches. */
export function childPids(comm?: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name_ = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z' && (comm === undefined || name_ === comm)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** UDP sockets this process holds bound to `port`. */
export function ownUdpSocketsOnPort(port: number): number {
  return countOwnUdpSockets(port);
}


// One polling helper for the whole suite.
export { sleep, until } from '../../../../test/helpers/wait';

/** A subscriber that records what it gets (copies of the header fields only). */
export interface Received {
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  payload: Buffer;
}

export function record(source: MediaSource): { packets: Received[]; track: ReturnType<MediaSource['subscribe']> } {
  const packets: Received[] = [];
  const track = source.subscribe((p: RtpPacket) =>
    packets.push({
      seq: p.header.sequenceNumber,
      ts: p.header.timestamp,
      ssrc: p.header.ssrc,
      marker: p.header.marker,
      payload: Buffer.from(p.payload),
    }),
  );
  return { packets, track };
}

/** Records the source's state changes. */
export function recordStates(source: MediaSource): SourceState[] {
  const states: SourceState[] = [];
  source.events.on('state', (s) => states.push(s));
  return states;
}

/** Whether a VP8 RTP payload starts a keyframe. */
export function isVp8KeyframeStart(payload: Buffer): boolean {
  // Descriptor: X|R|N|S|R|PID, optional extensions; the VP8 header follows.
  const x = (payload[0] & 0x80) !== 0;
  const s = (payload[0] & 0x10) !== 0;
  const pid = payload[0] & 0x07;
  let off = 1;
  if (x) {
    const ext = payload[1];
    off = 2;
    if (ext & 0x80) off += payload[off] & 0x80 ? 2 : 1;
    if (ext & 0x40) off += 1;
    if (ext & 0x30) off += 1;
  }
  return s && pid === 0 && (payload[off] & 0x01) === 0;
}

/** Whether an H.264 RTP payload carries an SPS or the start of an IDR. */
export function isH264KeyframeStart(payload: Buffer): boolean {
  const t = payload[0] & 0x1f;
  if (t === 5 || t === 7) return true;
  if (t === 24) {
    let off = 1;
    while (off + 2 < payload.length) {
      const size = payload.readUInt16BE(off);
      const nt = payload[off + 2] & 0x1f;
      if (nt === 5 || nt === 7) return true;
      off += 2 + size;
    }
  }
  return t === 28 && (payload[1] & 0x80) !== 0 && (payload[1] & 0x1f) === 5;
}

/** Checks that the sequence numbers run on by one. Returns the index of the first gap, or -1. */
export function firstSeqGap(packets: Received[]): number {
  for (let i = 1; i < packets.length; i++) {
    if (((packets[i].seq - packets[i - 1].seq) & 0xffff) !== 1) return i;
  }
  return -1;
}
