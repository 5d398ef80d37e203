/**
 * Named sources in real headless Chromium and Firefox: a picture from an RTP VP8 source
 * and from RTP H.264 sources (Constrained Baseline and High, encoded by Debian's ffmpeg), and
 * the time to first frame from a source with a 10 s GOP, which only the keyframe cache makes
 * short. Firefox here has no H.264 decoder (Debian's firefox-esr fetches OpenH264 on demand,
 * which cannot happen offline): its H.264 sessions must end in a clear codec-not-supported.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { MediaSourceRegistry } from '../../src/media/source-registry';
import type { RtpSource } from '../../src/media/sources/rtp.source';
import { childPids, killChild } from '../../src/media/sources/testing/helpers';
import { canReceive } from '../../src/protocol';
import { SessionService } from '../../src/session/session.service';
import { TestApp, startApp } from '../helpers/app';
import { TestBrowser, TestContext, TestPage, describeEachBrowser, launch, servePages, until } from '../helpers/browser';

jest.setTimeout(60_000);

interface DemoWindow {
  demo: {
    frames: number;
    firstFrameAt: number | null;
    startedAt: number | null;
    error: { code?: string; message: string } | null;
    session: null | { state: string; reason?: string };
  };
}

/** ffmpeg encoding a live test picture to RTP on 127.0.0.1:port. */
function encoder(port: number, codec: 'VP8' | 'H264-baseline' | 'H264-high', gop: number): ChildProcess {
  const enc =
    codec === 'VP8'
      ? ['-c:v', 'libvpx', '-b:v', '500k', '-deadline', 'realtime', '-cpu-used', '8', '-auto-alt-ref', '0']
      : ['-c:v', 'libx264', '-profile:v', codec === 'H264-high' ? 'high' : 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0', '-tune', 'zerolatency', '-preset', 'veryfast'];
  return spawn(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30',
      ...enc, '-g', String(gop), '-keyint_min', String(gop),
      '-f', 'rtp', '-pkt_size', '1200', '-payload_type', '96',
      `rtp://127.0.0.1:${port}?rtcpport=${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

describeEachBrowser('named sources', (browserName) => {
  let browser: TestBrowser;
  let t: TestApp;
  let ctx: TestContext;
  let ffmpeg: ChildProcess | undefined;

  beforeAll(async () => {
    browser = await launch(browserName);
  });
  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    t = await startApp({
      session: browser.sessionOptions,
      host: browser.serverHost,
      streaming: {
        sources: [
          { id: 'vp8', kind: 'rtp', codec: 'VP8', port: 0 },
          { id: 'h264', kind: 'rtp', codec: 'H264', port: 0 },
          { id: 'high', kind: 'rtp', codec: 'H264', port: 0, profileLevelId: 'auto' },
        ],
      },
    });
    ctx = await browser.newContext();
  });
  afterEach(async () => {
    const sessions = t?.app.get(SessionService);
    if (sessions) await until('condition', () => sessions.list().every((s) => s.state !== 'connecting'), 10_000).catch(() => undefined);
    await killChild(ffmpeg);
    ffmpeg = undefined;
    await ctx?.close();
    await t?.close();
    expect(childPids('ffmpeg')).toEqual([]);
  });

  const source = (id: string) => t.app.get(MediaSourceRegistry).get(id) as RtpSource;

  async function openDemo(id: string): Promise<TestPage> {
    const page = await ctx.newPage();
    await page.goto(`${t.url}/?${browserName === 'chromium' ? 'loopback=1&' : ''}source=${id}`);
    return page;
  }

  async function waitForPicture(page: TestPage, frames = 10): Promise<{ w: number; h: number; frames: number; ttffMs: number }> {
    await page.waitForFunction(
      (n) => {
        // Undefined until the page's module script has run (it imports /client.js first).
        const d = (window as unknown as DemoWindow).demo as DemoWindow['demo'] | undefined;
        if (!d) return false;
        if (d.error) return true;
        return d.frames > n && document.querySelector('video')!.videoWidth > 0;
      },
      frames,
      { timeout: 20_000, polling: 50 },
    ).catch(async (err: Error) => {
      const log = await page.evaluate(() => document.getElementById('log')?.textContent);
      const sdp = await page.evaluate(() => (window as unknown as { demo?: { session?: { pc: RTCPeerConnection } } }).demo?.session?.pc.currentLocalDescription?.sdp);
      throw new Error(`${err.message}\npage log: ${log}\nlocal sdp: ${sdp}`);
    });
    const seen = await page.evaluate(() => {
      const d = (window as unknown as DemoWindow).demo;
      const v = document.querySelector('video')!;
      return { w: v.videoWidth, h: v.videoHeight, frames: d.frames, ttffMs: (d.firstFrameAt ?? NaN) - (d.startedAt ?? NaN), error: d.error };
    });
    if (seen.error) throw new Error(`the page failed: ${JSON.stringify(seen.error)}`);
    return seen;
  }

  /** The page ends data-only with codec-not-supported, without a picture and without a feed. */
  async function expectCodecNotSupported(page: TestPage, id: string): Promise<void> {
    await page.waitForFunction(() => (window as unknown as Partial<DemoWindow>).demo?.session?.state === 'data-only', undefined, { timeout: 10_000 });
    const shown = await page.evaluate(() => ({
      reason: (window as unknown as DemoWindow).demo.session?.reason,
      badge: document.getElementById('reason')?.textContent,
      width: document.querySelector('video')!.videoWidth,
    }));
    expect(shown).toEqual({ reason: 'codec-not-supported', badge: '(codec-not-supported)', width: 0 });
    expect(source(id).viewers).toBe(0);
  }

  it.each([
    ['vp8', 'VP8'],
    ['h264', 'H264-baseline'],
  ] as const)('shows a picture from the RTP source %s (%s)', async (id, codec) => {
    ffmpeg = encoder(source(id).port, codec, 30);
    await until(`source ${id} live`, () => source(id).currentState === 'live', 10_000);
    const page = await openDemo(id);
    if (id === 'h264' && browserName === 'firefox') {
      const info = t.app.get(MediaSourceRegistry).list().find((s) => s.id === id)!;
      const decodable = canReceive(await page.evaluate(() => RTCRtpReceiver.getCapabilities('video')), info);
      console.log(`h264: Firefox can receive it: ${decodable}`);
      if (!decodable) return expectCodecNotSupported(page, id);
    }
    const seen = await waitForPicture(page);
    expect(seen).toMatchObject({ w: 320, h: 240 });
    expect(seen.frames).toBeGreaterThan(10);
    if (id === 'h264') {
      const sdp = await page.evaluate(
        () => (window as unknown as { demo: { session: { pc: RTCPeerConnection } } }).demo.session.pc.currentRemoteDescription!.sdp,
      );
      const fmtp = /a=fmtp:\d+ (.*profile-level-id=.*)/.exec(sdp)?.[1];
      console.log(`h264: stream profile-level-id ${source(id).detectedProfileLevelId}, negotiated with Chromium: ${fmtp}`);
      expect(fmtp).toContain('packetization-mode=1');
      expect(fmtp).toContain('profile-level-id=42e01f');
    }
    expect(ctx.problems).toEqual([]);
  });

  it('an H.264 High source that this browser cannot decode: a clear codec-not-supported, not a black picture', async () => {
    ffmpeg = encoder(source('high').port, 'H264-high', 30);
    await until('the SPS', () => source('high').detectedProfileLevelId !== undefined, 10_000);
    const info = t.app.get(MediaSourceRegistry).list().find((s) => s.id === 'high')!;
    expect(info.sdpFmtpLine).toContain(`profile-level-id=${source('high').detectedProfileLevelId}`);
    const page = await openDemo('high');
    // What a client checks before starting: the browser's receive capabilities.
    const caps = await page.evaluate(() => RTCRtpReceiver.getCapabilities('video'));
    const decodable = canReceive(caps, info);
    console.log(`high: stream ${source('high').detectedProfileLevelId}; ${browserName} can receive it: ${decodable}`);
    if (decodable) {
      // A build with a High decoder: the picture must show.
      expect((await waitForPicture(page)).w).toBe(320);
      return;
    }
    if (browserName === 'chromium') {
      expect(canReceive(caps, t.app.get(MediaSourceRegistry).list().find((s) => s.id === 'h264')!)).toBe(true);
    }
    await expectCodecNotSupported(page, 'high');
  });

  it('a page written from docs/protocol.md, classic flow (the video is the BUNDLE tag), for a source it cannot decode: data-only, its data channel working', async () => {
    ffmpeg = encoder(source('high').port, 'H264-high', 30);
    await until('the SPS', () => source('high').detectedProfileLevelId !== undefined, 10_000);
    const info = t.app.get(MediaSourceRegistry).list().find((s) => s.id === 'high')!;
    const pages = await servePages(browser.serverHost);
    try {
      const page = await ctx.newPage();
      await page.goto(`${pages.url}/classic.html?order=video-first&source=high&server=${encodeURIComponent(t.url)}`);
      if (canReceive(await page.evaluate(() => RTCRtpReceiver.getCapabilities('video')), info)) return; // a build with a High decoder: the test above shows the picture
      type Classic = { viewer: { start(): Promise<string>; states: Array<{ state: string; reason?: string }>; ping(id: number): Promise<unknown>; frames: number } };
      await page.evaluate(() => (window as unknown as Classic).viewer.start());
      await page.waitForFunction(() => (window as unknown as Classic).viewer.states.at(-1)?.state === 'data-only', undefined, { timeout: 15_000 });
      expect(await page.evaluate(() => (window as unknown as Classic).viewer.states.at(-1))).toEqual({ state: 'data-only', reason: 'codec-not-supported' });
      expect(await page.evaluate(() => (window as unknown as Classic).viewer.ping(1))).toEqual({ type: 'pong', id: 1 });
      expect(await page.evaluate(() => (window as unknown as Classic).viewer.frames)).toBe(0);
      expect(source('high').viewers).toBe(0);
    } finally {
      await pages.close();
    }
  });

  it('the first frame of a 10 s GOP source comes from the cache, well before the next keyframe', async () => {
    ffmpeg = encoder(source('vp8').port, 'VP8', 300);
    await until('the first keyframe', () => source('vp8').stats.keyframes >= 1, 10_000);
    // The next keyframe is ~10 s away: whatever is shown soon was decoded from the cache.
    await new Promise((r) => setTimeout(r, 2000));
    const keyframesBefore = source('vp8').stats.keyframes;
    const page = await openDemo('vp8');
    const seen = await waitForPicture(page, 1);
    console.log(`time to first frame with a 10 s GOP (keyframe ~2 s old): ${seen.ttffMs.toFixed(0)} ms`);
    expect(seen.ttffMs).toBeLessThan(2000);
    expect(source('vp8').stats.keyframes).toBe(keyframesBefore); // no new keyframe was needed
    expect(seen.w).toBe(320);
  });
});
