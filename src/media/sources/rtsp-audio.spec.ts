import { Logger } from '@nestjs/common';
import type { ChildProcess } from 'node:child_process';
import type { RtpPacket } from 'werift';
import { RtspSource } from './rtsp.source';
import { childPids, isH264KeyframeStart, killChild, ownUdpSocketsOnPort, record, spawnRtspCamera, until } from './testing/helpers';
import { RtspRelayServer } from './testing/rtsp-test-server';

jest.setTimeout(60_000);

/** A camera sending H.264 + AAC (or G.711) over RTSP: the video is copied, the audio becomes Opus. */
describe('RtspSource with audio (ffmpeg camera through an RTSP relay)', () => {
  let server: RtspRelayServer;
  let camera: ChildProcess | undefined;
  let source: RtspSource | undefined;

  beforeAll(() => Logger.overrideLogger(['error']));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  beforeEach(async () => {
    server = new RtspRelayServer();
    await server.listen();
  });
  afterEach(async () => {
    await (source as unknown as { onModuleDestroy(): Promise<void> } | undefined)?.onModuleDestroy();
    source = undefined;
    await killChild(camera);
    camera = undefined;
    await server.close();
  });

  async function start(codec: 'aac' | 'pcm_mulaw'): Promise<RtspSource> {
    camera = spawnRtspCamera(server.url('cam'), codec);
    await until('the camera publishing', () => server.publishing('cam'), 20_000);
    source = new RtspSource({ id: 'cam', url: server.url('cam'), audio: true, backoff: { initialMs: 200 } });
    await (source as unknown as { onModuleInit(): Promise<void> }).onModuleInit();
    return source;
  }

  it.each(['aac', 'pcm_mulaw'] as const)('relays H.264 as is and the %s audio as Opus at 48 kHz', async (codec) => {
    const s = await start(codec);
    expect(s.hasAudio).toBe(true);
    expect(s.info().audioMimeType).toBe('audio/opus');
    expect(s.ffmpegArgs()).toEqual(expect.arrayContaining(['-c:v', 'copy', '-c:a', 'libopus']));
    const video = record(s);
    const audio: { ts: number; len: number; pt: number }[] = [];
    s.subscribeAudio((p: RtpPacket) => audio.push({ ts: p.header.timestamp >>> 0, len: p.payload.length, pt: p.header.payloadType }));
    await until('video and audio', () => video.packets.length > 30 && audio.length > 50, 20_000);
    expect(video.packets.some((p) => isH264KeyframeStart(p.payload))).toBe(true);
    // 20 ms Opus frames: 960 ticks of the 48 kHz clock apart.
    const steps = audio.slice(1).map((a, i) => (a.ts - audio[i].ts) >>> 0);
    expect(steps.filter((d) => d === 960).length).toBeGreaterThan(steps.length * 0.9);
    expect(audio.every((a) => a.len > 0 && a.len < 1200)).toBe(true);
    const pid = s.ffmpegPid;
    const ports = [s.rtpPort, s.audioRtpPort!];
    await (s as unknown as { onModuleDestroy(): Promise<void> }).onModuleDestroy();
    source = undefined;
    // Nothing left: no ffmpeg of the source's, no socket on its ports.
    expect(childPids('ffmpeg')).not.toContain(pid);
    expect(ports.map((p) => ownUdpSocketsOnPort(p))).toEqual([0, 0]);
  });
});
