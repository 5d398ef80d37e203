/**
 * A page written from docs/protocol.md alone (test/browser/pages/classic.html: socket.io-client
 * and RTCPeerConnection, not our client library), doing the classic one-way flow in both
 * m-line orders, in Chromium and Firefox: server-started stop, resume, client-started stop,
 * resume, close. After every step the data channel delivers both ways and the session's
 * state is the documented one.
 */
import { TestPage, describeEachBrowser, servePages, until } from '../helpers/browser';
import { useBrowserApp } from '../helpers/browser-app';

jest.setTimeout(90_000);

/** window.viewer of classic.html (the parts read here). */
interface Viewer {
  sessionId: string | null;
  states: Array<{ state: string; reason?: string }>;
  messages: string[];
  trackEvents: Array<{ event: string; mid: string | null; id: string }>;
  frames: number;
  error: string | null;
  start(): Promise<string>;
  ping(id: number): Promise<{ type: string; id: number }>;
  stopOnServer(): Promise<unknown>;
  stopHere(): Promise<void>;
  resume(): Promise<unknown>;
  close(): Promise<unknown>;
  video(): {
    transceivers: Array<{ mid: string | null; direction: string; currentDirection: string | null; track: string; muted: boolean }>;
    bundleTag?: string;
    width: number;
    connection: string;
    channel?: string;
  };
}
type W = { viewer: Viewer };

describeEachBrowser('a page written from the protocol page (classic flow)', (browserName) => {
  const fx = useBrowserApp(browserName);
  let pages: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    pages = await servePages(fx.browser.serverHost);
  });
  afterAll(async () => {
    await pages?.close();
  });

  const frames = (page: TestPage) => page.evaluate(() => (window as unknown as W).viewer.frames);

  async function lastState(page: TestPage): Promise<{ state: string; reason?: string } | undefined> {
    return page.evaluate(() => (window as unknown as W).viewer.states.at(-1));
  }

  async function waitForState(page: TestPage, state: string): Promise<void> {
    await page
      .waitForFunction((s) => (window as unknown as W).viewer.states.at(-1)?.state === s, state, { timeout: 15_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}: no ${state}; page: ${JSON.stringify(await page.evaluate(() => ({ states: (window as unknown as W).viewer.states, video: (window as unknown as W).viewer.video(), error: (window as unknown as W).viewer.error })))}; server: ${JSON.stringify(fx.serverStates)}`);
      });
  }

  /** The data channel delivers both ways: a ping answered, and a message the server sends first. */
  let n = 0;
  async function expectDataChannel(page: TestPage): Promise<void> {
    const id = ++n;
    expect(await page.evaluate((i) => (window as unknown as W).viewer.ping(i), id)).toEqual({ type: 'pong', id });
    const s = fx.sessions.list()[0];
    const text = `from-server-${id}`;
    expect(s.send(text)).toBe(true);
    await page.waitForFunction((m) => (window as unknown as W).viewer.messages.includes(m), text, { timeout: 5_000 });
  }

  async function expectFrames(page: TestPage): Promise<void> {
    const before = await frames(page);
    await page.waitForFunction((b) => (window as unknown as W).viewer.frames > b + 15, before, { timeout: 15_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}: no frames (${before}); ${JSON.stringify(await page.evaluate(() => (window as unknown as W).viewer.video()))}`);
    });
    expect((await page.evaluate(() => (window as unknown as W).viewer.video())).width).toBe(640);
  }

  async function expectNoFrames(page: TestPage): Promise<void> {
    const before = await frames(page);
    await new Promise((r) => setTimeout(r, 600));
    expect((await frames(page)) - before).toBeLessThanOrEqual(2);
  }

  async function expectConnected(page: TestPage): Promise<void> {
    const v = await page.evaluate(() => (window as unknown as W).viewer.video());
    expect(v.connection).toBe('connected');
    expect(v.channel).toBe('open');
    expect(fx.sessions.list()[0].peerConnection.connectionState).toBe('connected');
  }

  /** After a stop: data-only on both sides, the data channel delivers, no more frames. */
  async function expectDataOnly(page: TestPage): Promise<void> {
    await waitForState(page, 'data-only');
    expect(await lastState(page)).toEqual({ state: 'data-only', reason: 'video-stopped' });
    expect(fx.sessions.list()[0].state).toBe('data-only');
    await expectDataChannel(page);
    await expectConnected(page);
    await expectNoFrames(page);
  }

  for (const order of ['video-first', 'data-first'] as const) {
    it(`keeps its data channel through server stop, resume, its own stop, resume and close (${order})`, async () => {
      const page = await fx.ctx.newPage();
      await page.goto(`${pages.url}/classic.html?order=${order}&server=${encodeURIComponent(fx.t.url)}`);
      await page.evaluate(() => (window as unknown as W).viewer.start());
      await waitForState(page, 'streaming');
      await expectFrames(page);
      await page.waitForFunction(() => (window as unknown as W).viewer.video().channel === 'open', undefined, { timeout: 10_000 });
      await expectDataChannel(page);
      const initial = await page.evaluate(() => (window as unknown as W).viewer.video());
      const videoMid = initial.transceivers[0].mid;
      // Chromium 156 and Firefox 153 both put the data channel's m-line last in an offer
      // that has both, whatever the page's order: the video m-line is the BUNDLE tag.
      expect(initial.bundleTag).toBe(videoMid);

      // 1. Stop asked of the server.
      await page.evaluate(() => (window as unknown as W).viewer.stopOnServer());
      await expectDataOnly(page);
      const afterServerStop = await page.evaluate(() => (window as unknown as W).viewer.video());
      // What docs/protocol.md says the page sees: the tag m-line parked (inactive, the track
      // live but muted), the BUNDLE group unchanged.
      expect(afterServerStop.transceivers).toEqual([
        { mid: videoMid, direction: 'recvonly', currentDirection: 'inactive', track: 'live', muted: true },
      ]);
      expect(afterServerStop.bundleTag).toBe(initial.bundleTag);

      // 2. Resume.
      await page.evaluate(() => (window as unknown as W).viewer.resume());
      await waitForState(page, 'streaming');
      await expectFrames(page);
      await expectDataChannel(page);
      await expectConnected(page);
      const resumed = await page.evaluate(() => (window as unknown as W).viewer.video());
      // The same m-line, transceiver and track again.
      expect(resumed.transceivers).toEqual([
        { mid: videoMid, direction: 'recvonly', currentDirection: 'recvonly', track: 'live', muted: false },
      ]);

      // 3. The page stops its own video (inactive: it is the tag; see classic.html).
      await page.evaluate(() => (window as unknown as W).viewer.stopHere());
      await expectDataOnly(page);
      expect((await page.evaluate(() => (window as unknown as W).viewer.video())).transceivers[0]).toMatchObject({
        direction: 'inactive',
        currentDirection: 'inactive',
      });

      // 4. Resume again.
      await page.evaluate(() => (window as unknown as W).viewer.resume());
      await waitForState(page, 'streaming');
      await expectFrames(page);
      await expectDataChannel(page);
      await expectConnected(page);

      // The track events the page saw (docs/protocol.md): the tag m-line's one track is
      // muted on every stop and unmuted on every resume, never ended, and ontrack fires again
      // on every resume.
      const events = (await page.evaluate(() => (window as unknown as W).viewer.trackEvents)).map((e) => e.event);
      console.log(`${browserName} ${order}: track events ${events.join(' ')}`);
      expect(events).not.toContain('ended');
      expect(events.filter((e) => e === 'mute').length).toBeGreaterThanOrEqual(2);
      expect(events.filter((e) => e === 'track').length).toBe(3);
      expect(new Set((await page.evaluate(() => (window as unknown as W).viewer.trackEvents)).map((e) => e.id)).size).toBe(1);

      // 5. Close.
      await page.evaluate(() => (window as unknown as W).viewer.close());
      await waitForState(page, 'closed');
      expect(await lastState(page)).toEqual({ state: 'closed', reason: 'client-closed' });
      await until('the session to close on the server', () => fx.sessions.count === 0, 5_000);
      expect(await page.evaluate(() => (window as unknown as W).viewer.error)).toBeNull();
      expect(fx.ctx.problems).toEqual([]);
    });
  }
});
