import { Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { RtspSource, redact } from './rtsp.source';
import {
  Fixtures,
  childPids,
  firstSeqGap,
  isVp8KeyframeStart,
  makeFixtures,
  ownUdpSocketsOnPort,
  pidAlive,
  record,
  recordStates,
  sleep,
  until,
} from './testing/helpers';
import { RtspTestServer } from './testing/rtsp-test-server';

jest.setTimeout(60_000);

describe('RtspSource (ffmpeg pulling from a local RTSP server)', () => {
  let fx: Fixtures;
  let server: RtspTestServer | undefined;
  let source: RtspSource | undefined;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    fx = await makeFixtures(2);
  });
  afterAll(() => {
    fx?.cleanup();
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  beforeEach(async () => {
    server = new RtspTestServer(readFileSync(fx.ivf));
    await server.listen();
  });

  afterEach(async () => {
    if (source) {
      const port = source.rtpPort;
      const pid = source.ffmpegPid;
      await source.onModuleDestroy();
      expect(ownUdpSocketsOnPort(port)).toBe(0);
      expect(pidAlive(pid)).toBe(false);
    }
    source = undefined;
    await server?.close();
    server = undefined;
    expect(childPids('ffmpeg')).toEqual([]);
  });

  it('builds the documented ffmpeg command and redacts passwords', async () => {
    const s = new RtspSource({ id: 'cam', url: 'rtsp://u:secret@127.0.0.1:1/x' });
    expect(() => new RtspSource({ id: 'cam', url: 'http://x' })).toThrow(/rtsp/);
    expect(redact('rtsp://u:secret@h/x')).toBe('rtsp://u:***@h/x');
    expect(s.codec).toBe('H264');
    expect(s.codecParameters().mimeType).toBe('video/H264');
  });

  it('relays the picture, restarts a killed ffmpeg with continuous numbering, and stop leaves no child', async () => {
    source = new RtspSource({
      id: 'cam',
      url: server!.url(),
      codec: 'VP8',
      offlineAfterMs: 500,
      backoff: { initialMs: 300, maxMs: 2000, stableMs: 60_000 },
    });
    const states = recordStates(source);
    await source.onModuleInit();
    expect(ownUdpSocketsOnPort(source.rtpPort)).toBe(1);
    const rec = record(source);
    await until('RTP from the RTSP stream', () => rec.packets.length > 30 && source!.stats.keyframes > 0, 20_000);
    expect(source.info().state).toBe('live');
    expect(isVp8KeyframeStart(rec.packets[0].payload)).toBe(true); // first packets: the clip's first keyframe
    expect(source.stats.oversize).toBe(0);

    // A late viewer gets the cached GOP, starting with a keyframe.
    const late = record(source);
    expect(isVp8KeyframeStart(late.packets[0].payload)).toBe(true);
    late.track.stop();

    // Kill ffmpeg: the source goes offline, restarts it after the backoff and comes back live.
    const pid1 = source.ffmpegPid!;
    expect(pidAlive(pid1)).toBe(true);
    process.kill(pid1, 'SIGKILL');
    await until('offline after the kill', () => source!.info().state === 'offline', 5000);
    const before = rec.packets.length;
    await until('a new ffmpeg', () => source!.ffmpegPid !== undefined && source!.ffmpegPid !== pid1, 5000);
    expect(pidAlive(pid1)).toBe(false);
    await until('RTP after the restart', () => rec.packets.length > before + 30, 20_000);
    expect(source.info().state).toBe('live');
    // (`offline` may come first too, if ffmpeg took longer than 500 ms to start.)
    expect(states.slice(states.indexOf('live'))).toEqual(['live', 'offline', 'live']);
    expect(source.ffmpeg.spawns).toBe(2);
    expect(server!.plays).toBe(2);
    expect(firstSeqGap(rec.packets)).toBe(-1);
    expect(new Set(rec.packets.map((p) => p.ssrc)).size).toBe(1);
    expect(source.stats.segments).toBe(2);

    const pid2 = source.ffmpegPid!;
    await source.onModuleDestroy();
    expect(pidAlive(pid2)).toBe(false);
    expect(rec.track.ended).toBe(true);
  });

  it('backs off while the server is down and recovers when it returns', async () => {
    const url = server!.url();
    const port = server!.port;
    await server!.close();
    source = new RtspSource({
      id: 'cam',
      url,
      codec: 'VP8',
      offlineAfterMs: 300,
      backoff: { initialMs: 100, maxMs: 400, stableMs: 60_000 },
    });
    const states = recordStates(source);
    await source.onModuleInit();
    // ffmpeg fails at once (connection refused): restarts at 100, 200, 400, 400... ms.
    await until('several restarts', () => source!.ffmpeg.spawns >= 4, 10_000);
    expect(source.ffmpeg.nextDelayMs).toBe(400);
    expect(states).toContain('offline');
    expect(source.info().state).toBe('offline');
    // The server comes back on the same port.
    server = new RtspTestServer(readFileSync(fx.ivf));
    await server.listen(port);
    const rec = record(source);
    await until('RTP once the server is back', () => rec.packets.length > 10, 20_000);
    expect(source.info().state).toBe('live');
  });

  it('goes offline when the server stops sending, and restarts a stalled ffmpeg', async () => {
    source = new RtspSource({
      id: 'cam',
      url: server!.url(),
      codec: 'VP8',
      offlineAfterMs: 300,
      // Long enough for a restarted ffmpeg to deliver its first packet on a loaded machine
      // (1 s was not, with other ffmpeg encoders running beside this test).
      stallRestartMs: 2500,
      backoff: { initialMs: 100 },
    });
    await source.onModuleInit();
    const rec = record(source);
    await until('RTP', () => rec.packets.length > 10, 20_000);
    const pid1 = source.ffmpegPid;
    // Freeze the stream without closing the connection.
    server!.freeze();
    await until('offline', () => source!.info().state === 'offline', 3000);
    await until('ffmpeg restarted by the watchdog', () => source!.ffmpegPid !== undefined && source!.ffmpegPid !== pid1, 8000);
    await until('live again', () => source!.info().state === 'live', 20_000);
    await sleep(100);
    expect(firstSeqGap(rec.packets)).toBe(-1);
  });
});
