import { Logger } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from './file.source';
import { childPids, ffmpeg, isH264KeyframeStart, isVp8KeyframeStart, ownUdpSocketsOnPort, record, until } from './testing/helpers';

jest.setTimeout(60_000);

/** Files with sound: the video copied as ever, the audio (AAC in MP4, Vorbis in WebM) as Opus. */
describe('FileSource with audio', () => {
  let dir: string;
  let mp4: string;
  let webm: string;
  let silent: string;
  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    dir = mkdtempSync(join(tmpdir(), 'file-audio-'));
    mp4 = join(dir, 'av.mp4');
    webm = join(dir, 'av.webm');
    silent = join(dir, 'silent.webm');
    const src = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=2', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'];
    await Promise.all([
      ffmpeg([...src, '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '30', '-bf', '0', '-c:a', 'aac', mp4]),
      ffmpeg([...src, '-c:v', 'libvpx', '-g', '30', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8', '-c:a', 'libvorbis', webm]),
      ffmpeg([src[0], src[1], src[2], src[3], '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', silent]),
    ]);
  });
  let source: FileSource | undefined;
  afterEach(async () => {
    await source?.onModuleDestroy();
    source = undefined;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  it.each([
    ['mp4 (H.264 + AAC)', () => mp4],
    ['webm (VP8 + Vorbis)', () => webm],
  ])('%s: video as is, audio as Opus; nothing left after stop', async (_name, path) => {
    const s = (source = new FileSource({ id: 'f', path: path(), audio: true }));
    expect(s.hasAudio).toBe(true);
    await s.onModuleInit();
    const video = record(s);
    const audio: number[] = [];
    s.subscribeAudio((p) => audio.push(p.header.timestamp >>> 0));
    await until('video and audio', () => video.packets.length > 30 && audio.length > 40, 20_000);
    const key = s.codec === 'H264' ? isH264KeyframeStart : isVp8KeyframeStart;
    expect(video.packets.some((p) => key(p.payload))).toBe(true);
    const steps = audio.slice(1).map((t, i) => (t - audio[i]) >>> 0);
    // 20 ms frames; Matroska's 1 ms timestamps make ffmpeg's steps vary by up to 0.5 ms.
    expect(steps.filter((d) => Math.abs(d - 960) <= 30).length).toBeGreaterThan(steps.length * 0.9);
    const pid = s.ffmpegPid;
    expect(pid).toBeDefined();
    await s.onModuleDestroy();
    expect(childPids('ffmpeg')).not.toContain(pid);
    expect(ownUdpSocketsOnPort(s.rtpPort!)).toBe(0);
  });

  it('a file without audio, configured with audio: ffmpeg fails, the source reports it (no crash)', async () => {
    const s = (source = new FileSource({ id: 'f', path: silent, audio: true, loop: false }));
    await s.onModuleInit();
    await until('the source ends', () => s.ended, 20_000);
    expect(childPids('ffmpeg')).toEqual([]);
    await s.onModuleDestroy();
  });
});
