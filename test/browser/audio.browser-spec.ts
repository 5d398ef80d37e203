/**
 * Audio in real browsers, from a page written from docs/protocol.md alone
 * (test/browser/pages/audio.html: the classic flow with a recvonly audio transceiver): an RTSP
 * camera sending H.264 + AAC (ffmpeg publishing a test picture and a 440 Hz tone to a local
 * RTSP relay; the service copies the video and transcodes the audio to Opus), and an RTP
 * source with VP8 + Opus. getStats must show inbound audio with packets and an audio level
 * above 0, and decoded video; both tracks in one MediaStream; stop-video of all media keeps
 * the data channel, and resume brings the sound back. Chromium plays sound without a click
 * only with --autoplay-policy=no-user-gesture-required (Firefox's test profile allows autoplay).
 * Firefox here has no H.264 decoder (see sources.browser-spec.ts): its camera sends VP8 + AAC.
 */
import type { ChildProcess } from 'node:child_process';
import { MediaSourceRegistry } from '../../src/media/source-registry';
import type { RtpSource } from '../../src/media/sources/rtp.source';
import { childPids, killChild, spawnRtpAvSender, spawnRtspCamera } from '../../src/media/sources/testing/helpers';
import { RtspRelayServer } from '../../src/media/sources/testing/rtsp-test-server';
import { SessionService } from '../../src/session/session.service';
import { TestApp, startApp } from '../helpers/app';
import { TestBrowser, TestContext, TestPage, describeEachBrowser, launch, servePages, until } from '../helpers/browser';

jest.setTimeout(90_000);

interface Inbound {
  packetsReceived: number;
  audioLevel?: number;
  totalAudioEnergy?: number;
  framesDecoded?: number;
}
interface Viewer {
  sessionId: string | null;
  states: Array<{ state: string; reason?: string }>;
  frames: number;
  kinds: string[];
  error: string | null;
  start(): Promise<string>;
  ping(id: number): Promise<{ type: string; id: number }>;
  stop(kind?: string): Promise<unknown>;
  resume(kind?: string): Promise<unknown>;
  inbound(): Promise<{ audio?: Inbound; video?: Inbound }>;
  stream(): { tracks: { kind: string; state: string }[]; streams: string[]; paused: boolean; muted: boolean };
}
type W = { viewer: Viewer };

describeEachBrowser('audio from a source with sound', (browserName) => {
  let browser: TestBrowser;
  let pages: { url: string; close(): Promise<void> };
  let relay: RtspRelayServer;
  let t: TestApp | undefined;
  let ctx: TestContext | undefined;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    browser = await launch(browserName, { chromiumArgs: ['--autoplay-policy=no-user-gesture-required'] });
    pages = await servePages(browser.serverHost);
  });
  afterAll(async () => {
    await pages?.close();
    await browser?.close();
  });
  beforeEach(async () => {
    relay = new RtspRelayServer();
    await relay.listen();
  });
  afterEach(async () => {
    const sessions = t?.app.get(SessionService);
    if (sessions) await until('no session connecting', () => sessions.list().every((s) => s.state !== 'connecting'), 10_000).catch(() => undefined);
    await ctx?.close();
    ctx = undefined;
    await t?.close();
    t = undefined;
    for (const c of children.splice(0)) await killChild(c);
    await relay.close();
    expect(childPids('ffmpeg')).toEqual([]);
  });

  async function app(sources: NonNullable<Parameters<typeof startApp>[0]>['streaming']): Promise<TestApp> {
    t = await startApp({ session: browser.sessionOptions, host: browser.serverHost, streaming: sources });
    ctx = await browser.newContext();
    return t;
  }

  async function openViewer(source: string): Promise<TestPage> {
    const page = await ctx!.newPage();
    await page.goto(`${pages.url}/audio.html?server=${encodeURIComponent(t!.url)}&source=${source}`);
    await page.waitForFunction(() => !!(window as unknown as Partial<W>).viewer);
    await page.evaluate(() => (window as unknown as W).viewer.start());
    return page;
  }

  /** Waits for audio packets with a level above 0 and decoded video; returns the figures. */
  async function hearsAndSees(page: TestPage, timeout = 25_000): Promise<{ audio: Inbound; video: Inbound }> {
    const deadline = Date.now() + timeout;
    let last: { audio?: Inbound; video?: Inbound } = {};
    while (Date.now() < deadline) {
      last = await page.evaluate(() => (window as unknown as W).viewer.inbound());
      if ((last.audio?.packetsReceived ?? 0) > 20 && (last.audio?.audioLevel ?? 0) > 0 && (last.video?.framesDecoded ?? 0) > 10) {
        return last as { audio: Inbound; video: Inbound };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const error = await page.evaluate(() => (window as unknown as W).viewer.error);
    throw new Error(`no audio level and video within ${timeout} ms: ${JSON.stringify(last)} (page error: ${error})`);
  }

  async function stopResumeKeepsChannel(page: TestPage): Promise<void> {
    await page.evaluate(() => (window as unknown as W).viewer.stop());
    const stopped = await page.evaluate(() => (window as unknown as W).viewer.inbound());
    await new Promise((r) => setTimeout(r, 1000));
    const later = await page.evaluate(() => (window as unknown as W).viewer.inbound());
    // Nothing more arrives (a few in flight at most); the data channel still answers.
    expect((later.audio?.packetsReceived ?? 0) - (stopped.audio?.packetsReceived ?? 0)).toBeLessThan(5);
    expect(await page.evaluate(() => (window as unknown as W).viewer.ping(1))).toEqual({ type: 'pong', id: 1 });
    await page.evaluate(() => (window as unknown as W).viewer.resume());
    await until('audio again', async () => {
      const now = await page.evaluate(() => (window as unknown as W).viewer.inbound());
      return (now.audio?.packetsReceived ?? 0) > (later.audio?.packetsReceived ?? 0) + 20;
    }, 15_000);
    expect(await page.evaluate(() => (window as unknown as W).viewer.ping(2))).toEqual({ type: 'pong', id: 2 });
  }

  // Firefox here decodes no H.264: its camera sends VP8 (+ AAC).
  const video = browserName === 'firefox' ? 'VP8' : 'H264';
  it(`an RTSP camera with ${video} + AAC: the video as is, the audio as Opus, heard and seen`, async () => {
    children.push(spawnRtspCamera(relay.url('cam'), 'aac', video));
    await until('the camera publishing', () => relay.publishing('cam'), 20_000);
    await app({ sources: [{ id: 'cam', kind: 'rtsp', url: relay.url('cam'), codec: video, audio: true }] });
    await until('source live', () => t!.app.get(MediaSourceRegistry).get('cam')!.currentState === 'live', 20_000);
    const page = await openViewer('cam');
    const seen = await hearsAndSees(page);
    console.log(`rtsp ${video}+aac in ${browserName}: ${JSON.stringify(seen)}`);
    const stream = await page.evaluate(() => (window as unknown as W).viewer.stream());
    expect(stream.streams.length).toBe(1);
    expect(stream.tracks.map((x) => x.kind).sort()).toEqual(['audio', 'video']);
    expect(stream.muted).toBe(false);
    await stopResumeKeepsChannel(page);
    expect(ctx!.problems).toEqual([]);
  });

  it('an RTP source with VP8 + Opus: heard and seen', async () => {
    await app({ sources: [{ id: 'opus', kind: 'rtp', codec: 'VP8', port: 0, audioPort: 0 }] });
    const source = t!.app.get(MediaSourceRegistry).get('opus') as RtpSource;
    children.push(spawnRtpAvSender({ videoPort: source.port, audioPort: source.audioPort!, codec: 'VP8' }));
    await until('source live', () => source.currentState === 'live', 20_000);
    const page = await openViewer('opus');
    const seen = await hearsAndSees(page);
    console.log(`rtp vp8+opus in ${browserName}: ${JSON.stringify(seen)}`);
    expect((await page.evaluate(() => (window as unknown as W).viewer.stream())).streams.length).toBe(1);
    await stopResumeKeepsChannel(page);
    expect(ctx!.problems).toEqual([]);
  });

  it('the demo page (client library): the audio comes in the video element, muted until a click', async () => {
    await app({ sources: [{ id: 'opus', kind: 'rtp', codec: 'VP8', port: 0, audioPort: 0 }] });
    const source = t!.app.get(MediaSourceRegistry).get('opus') as RtpSource;
    children.push(spawnRtpAvSender({ videoPort: source.port, audioPort: source.audioPort!, codec: 'VP8' }));
    await until('source live', () => source.currentState === 'live', 20_000);
    const page = await ctx!.newPage();
    await page.goto(`${t!.url}/?${browserName === 'chromium' ? 'loopback=1&' : ''}source=opus`);
    type Demo = { demo: { frames: number; session: null | { state: string; hasAudio: boolean }; stats: null | { audio?: Inbound } } };
    await page.waitForFunction(() => {
      const d = (window as unknown as Partial<Demo>).demo;
      return !!d?.session?.hasAudio && d.frames > 10;
    }, undefined, { timeout: 25_000 });
    expect(await page.isVisible('#sound')).toBe(true);
    expect(await page.evaluate(() => document.querySelector('video')!.muted)).toBe(true);
    expect(await page.evaluate(() => (document.querySelector('video')!.srcObject as MediaStream).getTracks().map((x) => x.kind).sort())).toEqual(['audio', 'video']);
    await page.click('#sound');
    expect(await page.evaluate(() => document.querySelector('video')!.muted)).toBe(false);
    expect(await page.textContent('#sound')).toBe('Mute');
    // The page's stats poll (once a second) reads the audio through the client library.
    const audio = await page.waitForFunction(() => {
      const a = (window as unknown as Demo).demo.stats?.audio;
      return a && (a.packetsReceived ?? 0) > 20 && (a.audioLevel ?? 0) > 0 ? a : undefined;
    }, undefined, { timeout: 15_000 });
    console.log(`demo page audio in ${browserName}: ${JSON.stringify(audio)}`);
    expect(ctx!.problems).toEqual([]);
  });
});
