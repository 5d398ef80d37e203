import { Logger } from '@nestjs/common';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { avcCProfileLevelId, containerOf, FileSource, probeVideo } from './file.source';
import {
  Fixtures,
  Received,
  childPids,
  firstSeqGap,
  isH264KeyframeStart,
  isVp8KeyframeStart,
  makeFixtures,
  ownUdpSocketsOnPort,
  pidAlive,
  record,
  recordStates,
  sleep,
  until,
} from './testing/helpers';

jest.setTimeout(60_000);

/** Timestamp steps between consecutive packets, as signed 32-bit values. */
function tsSteps(packets: Received[]): number[] {
  return packets.slice(1).map((p, i) => ((p.ts - packets[i].ts) << 0) | 0);
}

describe('FileSource', () => {
  let fx: Fixtures;
  let source: FileSource | undefined;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    fx = await makeFixtures(1); // 1 s clips, 30 frames, one keyframe each
  });
  afterAll(() => {
    fx?.cleanup();
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  afterEach(async () => {
    if (source) {
      const port = source.rtpPort;
      const pid = source.ffmpegPid;
      await source.onModuleDestroy();
      if (port !== undefined) expect(ownUdpSocketsOnPort(port)).toBe(0);
      expect(pidAlive(pid)).toBe(false);
    }
    source = undefined;
    expect(childPids('ffmpeg')).toEqual([]);
  });

  it('knows the containers and rejects others', () => {
    expect(containerOf('/a/b.IVF')).toBe('ivf');
    expect(containerOf('x.webm')).toBe('webm');
    expect(containerOf('x.mp4')).toBe('mp4');
    expect(containerOf('x.avi')).toBeUndefined();
    expect(() => new FileSource({ id: 'f', path: 'x.avi' })).toThrow(/container/);
    expect(new FileSource({ id: 'f', path: 'x.mp4' }).codec).toBe('H264');
    expect(new FileSource({ id: 'f', path: 'x.webm' }).codec).toBe('VP8');
    expect(avcCProfileLevelId('\n00000000: 0142 c00d ffe1 0018  .B..\n')).toBe('42c00d');
    expect(avcCProfileLevelId(undefined)).toBeUndefined();
  });

  it('probes the codec and H.264 profile with ffprobe', async () => {
    await expect(probeVideo('ffprobe', fx.mp4)).resolves.toEqual({ codec: 'h264', profileLevelId: expect.stringMatching(/^42[0-9a-f]{2}0d$/) });
    await expect(probeVideo('ffprobe', fx.webm)).resolves.toMatchObject({ codec: 'vp8' });
  });

  it('refuses a file whose codec does not match its container', async () => {
    source = new FileSource({ id: 'f', path: fx.webm, container: 'mp4' });
    await expect(source.onModuleInit()).rejects.toThrow(/expected h264/);
    source = new FileSource({ id: 'f', path: join(fx.dir, 'missing.webm') });
    await expect(source.onModuleInit()).rejects.toThrow(/ffprobe/);
  });

  it('IVF played once: real time, then every track ends with source-ended', async () => {
    source = new FileSource({ id: 'f', path: fx.ivf, loop: false });
    const states = recordStates(source);
    const t0 = performance.now();
    await source.onModuleInit();
    expect(source.info().state).toBe('live');
    const rec = record(source);
    expect(isVp8KeyframeStart(rec.packets[0].payload)).toBe(true); // the cached first keyframe
    let endedReason: string | undefined;
    rec.track.once('ended', (r) => (endedReason = r));
    await until('the end of the clip', () => rec.track.ended, 5000);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThan(900); // 30 frames at 30 fps, in real time
    expect(took).toBeLessThan(2500);
    expect(endedReason).toBe('source-ended');
    expect(source.ended).toBe(true);
    expect(states).toEqual(['live', 'stopped']);
    expect(firstSeqGap(rec.packets)).toBe(-1);
    expect(new Set(rec.packets.map((p) => p.ts)).size).toBe(30);
    expect(source.subscribe(() => undefined).ended).toBe(true);
  });

  it('IVF looped: keeps going past the end, numbering continuous', async () => {
    source = new FileSource({ id: 'f', path: fx.ivf });
    await source.onModuleInit();
    const rec = record(source);
    await sleep(1600);
    expect(rec.track.ended).toBe(false);
    const frames = new Set(rec.packets.map((p) => p.ts)).size;
    expect(frames).toBeGreaterThan(40);
    expect(firstSeqGap(rec.packets)).toBe(-1);
    expect(tsSteps(rec.packets).every((d) => d >= 0 && d <= 3000)).toBe(true);
    expect(rec.packets.filter((p) => isVp8KeyframeStart(p.payload)).length).toBeGreaterThanOrEqual(2);
  });

  it('WebM played once through ffmpeg: packets, keyframe cache, then the end; no child or socket left', async () => {
    source = new FileSource({ id: 'f', path: fx.webm, loop: false });
    const states = recordStates(source);
    await source.onModuleInit();
    const pid = source.ffmpegPid;
    expect(pidAlive(pid)).toBe(true);
    const rec = record(source);
    await until('packets', () => rec.packets.length > 0, 10_000);
    expect(isVp8KeyframeStart(rec.packets[0].payload)).toBe(true);
    const late = record(source);
    expect(isVp8KeyframeStart(late.packets[0].payload)).toBe(true);
    await until('the end of the file', () => rec.track.ended, 10_000);
    expect(rec.track.reason).toBe('source-ended');
    expect(late.track.ended).toBe(true);
    expect(states).toEqual(['live', 'stopped']);
    expect(firstSeqGap(rec.packets)).toBe(-1);
    expect(new Set(rec.packets.map((p) => p.ts)).size).toBeGreaterThanOrEqual(29);
    await until('ffmpeg gone', () => !pidAlive(pid), 2000);
  });

  it('MP4 (H.264) looped through ffmpeg: SPS/PPS in band, continuous across loops, the file profile with auto', async () => {
    source = new FileSource({ id: 'f', path: fx.mp4, profileLevelId: 'auto' });
    await source.onModuleInit();
    expect(source.codecParameters().parameters).toMatch(/profile-level-id=42[0-9a-f]{2}0d;packetization-mode=1/);
    const rec = record(source);
    await until('packets', () => rec.packets.length > 0, 10_000);
    await sleep(2300); // past two loops of the 1 s clip
    expect(rec.track.ended).toBe(false);
    expect(source.info().state).toBe('live');
    expect(firstSeqGap(rec.packets)).toBe(-1);
    // Every IDR is preceded, in its access unit, by a STAP-A carrying SPS and PPS
    // (h264_mp4toannexb puts them in band).
    const idrStarts = rec.packets.filter((p) => (p.payload[0] & 0x1f) === 28 && (p.payload[1] & 0x9f) === 0x85);
    expect(idrStarts.length).toBeGreaterThanOrEqual(2);
    for (const idr of idrStarts) {
      const au = rec.packets.filter((p) => p.ts === idr.ts);
      expect((au[0].payload[0] & 0x1f) === 24 && isH264KeyframeStart(au[0].payload)).toBe(true);
    }
    // Timestamps never step back nor leap across the loop.
    expect(tsSteps(rec.packets).every((d) => d >= 0 && d <= 6000)).toBe(true);
    expect(new Set(rec.packets.map((p) => p.ts)).size).toBeGreaterThan(60);
    const late = record(source);
    expect(isH264KeyframeStart(late.packets[0].payload)).toBe(true);
    // ffmpeg's -stream_loop keeps sequence numbers and timestamps running: one segment.
    expect(source.stats?.segments).toBe(1);
  });

  it('WebM looped through ffmpeg: keeps going with continuous numbering', async () => {
    source = new FileSource({ id: 'f', path: fx.webm });
    await source.onModuleInit();
    const rec = record(source);
    await until('packets', () => rec.packets.length > 0, 10_000);
    await sleep(1600);
    expect(rec.track.ended).toBe(false);
    expect(firstSeqGap(rec.packets)).toBe(-1);
    expect(tsSteps(rec.packets).every((d) => d >= 0 && d <= 6000)).toBe(true);
    expect(rec.packets.filter((p) => isVp8KeyframeStart(p.payload)).length).toBeGreaterThanOrEqual(2);
  });

  it("MP4 played once, from a path with a quote and spaces: ends, and removes its temp files", async () => {
    const path = join(fx.dir, "it's a clip.mp4");
    copyFileSync(fx.mp4, path);
    source = new FileSource({ id: 'f', path, loop: false });
    await source.onModuleInit();
    const tempDir = (source as unknown as { tempDir?: string }).tempDir;
    expect(tempDir && existsSync(tempDir)).toBe(true);
    const rec = record(source);
    await until('the end of the file', () => rec.track.ended, 10_000);
    expect(rec.track.reason).toBe('source-ended');
    expect(new Set(rec.packets.map((p) => p.ts)).size).toBeGreaterThanOrEqual(29);
    expect(rec.packets.some((p) => isH264KeyframeStart(p.payload))).toBe(true);
    await until('temp dir removed', () => !existsSync(tempDir!), 2000);
  });
});
