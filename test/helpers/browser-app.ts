/**
 * The browser specs' fixture: `useBrowserApp` registers the hooks (a browser per file, a
 * fresh app and browser context per test); `useDemoPage` adds the helpers both demo-page
 * specs (src/public) use, so that they read the page the same way in Chromium and Firefox.
 */
import { SessionService } from '../../src/session/session.service';
import type { SessionStateEvent } from '../../src/protocol';
import { TestApp, startApp } from './app';
import { BrowserName, TestBrowser, TestContext, TestPage, launch, until } from './browser';

/** The client's stats summary, as far as the tests read it (src/client/stats.ts). */
export interface DemoStats {
  width?: number;
  height?: number;
  framesPerSecond?: number;
  bytesReceived?: number;
  bitrate?: number;
  roundTripTimeMs?: number;
  packetLossRatio?: number;
  jitterBufferDelayMs?: number;
  codec?: string;
}

/** What the page exposes as `window.demo` (the parts the tests read). */
export interface DemoWindow {
  demo: {
    stats: DemoStats | null;
    frames: number;
    firstFrameAt: number | null;
    startedAt: number | null;
    error: { code?: string; message: string } | null;
    session: null | {
      id: string;
      state: string;
      reason?: string;
      channel?: RTCDataChannel;
    };
  };
}

export interface BrowserAppFixture {
  readonly browser: TestBrowser;
  readonly t: TestApp;
  readonly ctx: TestContext;
  readonly sessions: SessionService;
  /** Every session state the server published, in order. */
  readonly serverStates: SessionStateEvent[];
}

export interface DemoFixture extends BrowserAppFixture {
  /** Opens the demo page (Chromium: loopback candidates only). */
  openDemo(query?: string): Promise<TestPage>;
  /** Waits for `streaming`, failing at once with both sides' view when the session fails. */
  waitForStreaming(page: TestPage): Promise<void>;
  /** The state the page shows (`data-state`; the badge's text is the state in words). */
  badge(page: TestPage): Promise<string>;
  waitForBadge(page: TestPage, state: string): Promise<void>;
  /** Every remote candidate's address and the selected pair's, as the browser sees them. */
  selectedPair(page: TestPage): Promise<{ remotes: string[]; selected: { local?: string; remote?: string } }>;
  /** Sends a JSON ping from the page on the data channel and resolves with the reply. */
  pingFromPage(page: TestPage, id: number): Promise<string>;
  frames(page: TestPage): Promise<number>;
  pcState(page: TestPage): Promise<string>;
  /** After a stop: data-only on both sides, no new frames, the data channel still answers. */
  expectDataOnly(page: TestPage, pingId: number): Promise<void>;
  /** After a resume: streaming again, frames decoded again, the data channel still answers. */
  expectStreamingAgain(page: TestPage, pingId: number): Promise<void>;
  expectNoProblems(): void;
}

/**
 * Registers, in the calling `describe`, one browser for the file and a fresh app (ICE on the
 * browser's test addresses) and browser context per test.
 */
export function useBrowserApp(browserName: BrowserName): BrowserAppFixture {
  let browser: TestBrowser;
  let t: TestApp;
  let ctx: TestContext;
  let sessions: SessionService;
  let serverStates: SessionStateEvent[] = [];

  beforeAll(async () => {
    browser = await launch(browserName);
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    t = await startApp({ session: browser.sessionOptions, host: browser.serverHost });
    sessions = t.app.get(SessionService);
    serverStates = [];
    sessions.events.on('state', (_owner, e) => serverStates.push(e));
    ctx = await browser.newContext();
  });
  afterEach(async () => {
    // Closing a session in the middle of its DTLS handshake leaves werift's retransmission
    // loop running for ~30 s (keeps jest alive): let handshakes finish first.
    if (sessions) await until('condition', () => sessions.list().every((s) => s.state !== 'connecting'), 10_000).catch(() => undefined);
    await ctx?.close();
    await t?.close();
  });

  return {
    get browser() {
      return browser;
    },
    get t() {
      return t;
    },
    get ctx() {
      return ctx;
    },
    get sessions() {
      return sessions;
    },
    get serverStates() {
      return serverStates;
    },
  };
}

/** `useBrowserApp` plus the demo page's helpers. */
export function useDemoPage(browserName: BrowserName): DemoFixture {
  const app = useBrowserApp(browserName);

  async function diagnose(page: TestPage): Promise<string> {
    const browserSide = await page
      .evaluate(async () => {
        const d = (window as unknown as { demo: { session?: { pc: RTCPeerConnection; state: string; reason?: string } } }).demo;
        const pc = d.session?.pc;
        const stats = pc ? [...(await pc.getStats()).values()].filter((s) => /candidate|transport/.test(s.type)) : [];
        return {
          log: document.getElementById('log')?.textContent,
          session: d.session && { state: d.session.state, reason: d.session.reason },
          pc: pc && { connection: pc.connectionState, ice: pc.iceConnectionState, gathering: pc.iceGatheringState, signaling: pc.signalingState },
          stats,
        };
      })
      .catch((e: Error) => ({ evaluateFailed: e.message }));
    const serverSide = app.sessions.list().map((s) => ({
      id: s.id,
      state: s.state,
      connection: s.peerConnection.connectionState,
      ice: s.peerConnection.iceConnectionState,
      signaling: s.peerConnection.signalingState,
    }));
    return `browser: ${JSON.stringify(browserSide, null, 1)}\nserver: ${JSON.stringify(serverSide)}\nserver states: ${JSON.stringify(app.serverStates)}\nproblems: ${JSON.stringify(app.ctx.problems)}`;
  }

  const fixture: DemoFixture = {
    get browser() {
      return app.browser;
    },
    get t() {
      return app.t;
    },
    get ctx() {
      return app.ctx;
    },
    get sessions() {
      return app.sessions;
    },
    get serverStates() {
      return app.serverStates;
    },

    async openDemo(query = '') {
      const page = await app.ctx.newPage();
      await page.goto(`${app.t.url}/?${browserName === 'chromium' ? 'loopback=1' : 'demo=1'}${query}`);
      return page;
    },

    async waitForStreaming(page) {
      let outcome: string;
      try {
        outcome = String(
          await page.waitForFunction(
            () => {
              const d = (window as unknown as DemoWindow).demo;
              if (d?.error || d?.session?.state === 'closed') return 'failed';
              return d?.session?.state === 'streaming' ? 'streaming' : false;
            },
            undefined,
            { timeout: 15_000, polling: 50 },
          ),
        );
      } catch (err) {
        outcome = (err as Error).message;
      }
      if (outcome !== 'streaming') throw new Error(`the session did not stream (${outcome})\n${await diagnose(page)}`);
    },

    async badge(page) {
      return (await page.getAttribute('#state', 'data-state')) ?? '';
    },

    async waitForBadge(page, state) {
      await page.waitForFunction((s) => document.getElementById('state')?.dataset.state === s, state, { timeout: 10_000 });
    },

    selectedPair(page) {
      return page.evaluate(async () => {
        const pc = (window as unknown as { demo: { session: { pc: RTCPeerConnection } } }).demo.session.pc;
        const stats = [...(await pc.getStats()).values()] as Array<Record<string, string | boolean>>;
        const byId = new Map(stats.map((s) => [s.id as string, s]));
        const transport = stats.find((s) => s.type === 'transport');
        // Chromium names the pair on its transport stats; Firefox marks the pair itself.
        const pair =
          byId.get(transport?.selectedCandidatePairId as string) ?? stats.find((s) => s.type === 'candidate-pair' && s.selected === true);
        return {
          remotes: stats.filter((s) => s.type === 'remote-candidate').map((s) => String(s.address)),
          selected: {
            local: byId.get(pair?.localCandidateId as string)?.address as string | undefined,
            remote: byId.get(pair?.remoteCandidateId as string)?.address as string | undefined,
          },
        };
      });
    },

    pingFromPage(page, id) {
      return page.evaluate(
        (pingId) =>
          new Promise<string>((resolve, reject) => {
            const s = (window as unknown as { demo: { session: EventTarget & { send(t: string): void } } }).demo.session;
            const timer = setTimeout(() => reject(new Error('no pong within 5 s')), 5000);
            const onMessage = (e: Event) => {
              const data = (e as MessageEvent<string>).data;
              if (data.includes(`"id":${pingId}`)) {
                clearTimeout(timer);
                s.removeEventListener('message', onMessage);
                resolve(data);
              }
            };
            s.addEventListener('message', onMessage);
            // send() queues while the channel is not open (and throws once the session is
            // closed): the pong is what proves the channel.
            try {
              s.send(JSON.stringify({ type: 'ping', id: pingId }));
            } catch (err) {
              clearTimeout(timer);
              reject(err);
            }
          }),
        id,
      );
    },

    frames(page) {
      return page.evaluate(() => (window as unknown as DemoWindow).demo.frames);
    },

    pcState(page) {
      return page.evaluate(() => (window as unknown as { demo: { session: { pc: RTCPeerConnection } } }).demo.session.pc.connectionState);
    },

    async expectDataOnly(page, pingId) {
      await fixture.waitForBadge(page, 'data-only');
      expect(app.sessions.list()[0].state).toBe('data-only');
      expect(await page.isVisible('#overlay')).toBe(true);
      expect(JSON.parse(await fixture.pingFromPage(page, pingId))).toEqual({ type: 'pong', id: pingId });
      const before = await fixture.frames(page);
      await new Promise((r) => setTimeout(r, 500));
      expect((await fixture.frames(page)) - before).toBeLessThanOrEqual(2);
      expect(await fixture.pcState(page)).toBe('connected');
    },

    async expectStreamingAgain(page, pingId) {
      await fixture.waitForBadge(page, 'streaming');
      const before = await fixture.frames(page);
      await page.waitForFunction((n) => (window as unknown as DemoWindow).demo.frames > n + 15, before, { timeout: 10_000 });
      expect(await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).videoWidth)).toBe(640);
      expect(JSON.parse(await fixture.pingFromPage(page, pingId))).toEqual({ type: 'pong', id: pingId });
      expect(await fixture.pcState(page)).toBe('connected');
    },

    expectNoProblems() {
      expect(app.ctx.problems).toEqual([]);
    },
  };
  return fixture;
}
