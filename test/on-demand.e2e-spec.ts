/**
 * An on-demand RTSP source: ffmpeg runs only while someone watches. The camera is the test
 * RTSP server (a VP8 clip with one keyframe every 6 s, so that a cached keyframe and a wait
 * for the next one cannot be confused).
 */
import { Logger } from '@nestjs/common';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaSourceRegistry } from '../src/media/source-registry';
import { childPids, ffmpeg, sleep, until } from '../src/media/sources/testing/helpers';
import { RtspTestServer } from '../src/media/sources/testing/rtsp-test-server';
import { TestApp, startApp } from './helpers/app';
import { WeriftViewer, ok } from './helpers/werift-viewer';
import { whepPost } from './whep/whep-client';

jest.setTimeout(90_000);

const GOP_S = 6;
const LINGER_MS = 1500;

describe('an on-demand RTSP source', () => {
  let dir: string;
  let ivf: string;
  let server: RtspTestServer;
  let t: TestApp | undefined;
  const viewers: WeriftViewer[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'on-demand-'));
    ivf = join(dir, 'gop.ivf');
    await ffmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${GOP_S * 2}`,
      '-c:v', 'libvpx', '-g', String(GOP_S * 30), '-keyint_min', String(GOP_S * 30),
      '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8', '-f', 'ivf', ivf,
    ]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    server = new RtspTestServer(readFileSync(ivf));
    await server.listen();
  });
  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await t?.close();
    t = undefined;
    await server.close();
    expect(childPids('ffmpeg')).toEqual([]);
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  /** The viewer leaves the way a page does when it closes: its socket goes. */
  async function leave(v: WeriftViewer): Promise<void> {
    v.socket.disconnect();
    await v.close();
  }

  async function watch(): Promise<WeriftViewer> {
    const v = new WeriftViewer(await t!.connect());
    viewers.push(v);
    await v.startWithOffer('cam');
    return v;
  }

  it('starts ffmpeg for the first viewer, serves later viewers from the cache, stops after the linger time, and starts again', async () => {
    t = await startApp({
      streaming: { sources: [{ id: 'cam', kind: 'rtsp', url: server.url(), codec: 'VP8', onDemand: true, lingerMs: LINGER_MS }] },
    });
    const cam = t.app.get(MediaSourceRegistry).get('cam')!;
    // Nothing runs before a viewer.
    await sleep(500);
    expect(childPids('ffmpeg')).toEqual([]);
    expect(server.plays).toBe(0);
    const socket = await t.connect();
    const listed = await ok<{ sources: { id: string; state: string }[] }>(socket, 'sources:list', {});
    expect(listed.sources.find((s) => s.id === 'cam')?.state).toBe('idle');

    // The first viewer starts it, and its first frame (a keyframe) arrives.
    const first = await watch();
    await first.waitForState('streaming');
    await until('the first viewer\'s first keyframe', () => first.keyframes > 0, 15_000);
    expect(childPids('ffmpeg')).toHaveLength(1);
    expect(server.plays).toBe(1);
    expect(cam.currentState).toBe('live');

    // A later viewer, well inside the 6 s group of pictures: the cached keyframe at once.
    await sleep(1500);
    const second = await watch();
    await second.waitForState('streaming');
    const joinedAt = Date.now();
    await until('the second viewer\'s keyframe', () => second.keyframes > 0, 3000);
    expect(Date.now() - joinedAt).toBeLessThan(1500);
    expect(server.plays).toBe(1); // the same pull, not a second RTSP client

    // Both leave: ffmpeg lingers, then stops.
    for (const v of viewers.splice(0)) await leave(v);
    await until('no viewers', () => cam.viewers === 0, 2000);
    const leftAt = Date.now();
    await sleep(LINGER_MS / 3);
    expect(childPids('ffmpeg')).toHaveLength(1);
    await until('ffmpeg stopped after the linger time', () => childPids('ffmpeg').length === 0, LINGER_MS + 5000);
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(LINGER_MS - 50);
    // The state follows the child's exit (an event away), not before it.
    await until('the source idle', () => cam.currentState === 'idle', 2000);
    await sleep(500);
    expect(childPids('ffmpeg')).toEqual([]);

    // A new viewer pulls the camera again, and waits for a fresh keyframe (not the old cache).
    const third = await watch();
    await until('the third viewer\'s keyframe', () => third.keyframes > 0, 15_000);
    expect(server.plays).toBe(2);
    expect(childPids('ffmpeg')).toHaveLength(1);
  });

  it('a WHEP viewer pulls it too, and its DELETE lets it stop after the linger time', async () => {
    t = await startApp({
      streaming: { sources: [{ id: 'cam', kind: 'rtsp', url: server.url(), codec: 'VP8', onDemand: true, lingerMs: 500 }] },
    });
    expect(childPids('ffmpeg')).toEqual([]);
    const w = await whepPost(`${t.url}/whep/cam`);
    try {
      expect(w.status).toBe(201);
      await until('WHEP video packets', () => w.packets() > 20, 15_000);
      expect(childPids('ffmpeg')).toHaveLength(1);
      expect((await fetch(w.resource!, { method: 'DELETE' })).status).toBe(200);
      await until('ffmpeg stopped after the WHEP viewer left', () => childPids('ffmpeg').length === 0, 5000);
    } finally {
      await w.close();
    }
  });

  it('a viewer coming back within the linger time keeps the same pull', async () => {
    t = await startApp({
      streaming: { sources: [{ id: 'cam', kind: 'rtsp', url: server.url(), codec: 'VP8', onDemand: true, lingerMs: 3000 }] },
    });
    const first = await watch();
    await until('first keyframe', () => first.keyframes > 0, 15_000);
    const pid = childPids('ffmpeg');
    await leave(first);
    viewers.splice(0);
    await sleep(500);
    const again = await watch();
    await until('keyframe from the cache', () => again.keyframes > 0, 3000);
    expect(childPids('ffmpeg')).toEqual(pid);
    expect(server.plays).toBe(1);
  });
});
