/**
 * The demo page in real headless Chromium and Firefox against the real application (on
 * loopback for Chromium, on Firefox's private veth pair for Firefox; see helpers/browser.ts).
 */
import { SessionService } from '../../src/session/session.service';
import type { SessionStateEvent } from '../../src/protocol';
import { TestApp, startApp } from '../helpers/app';
import { TestBrowser, TestContext, TestPage, describeEachBrowser, launch, mediaPermissionCalls, until } from '../helpers/browser';

/** What the page exposes as `window.demo` (the parts read here). */
interface DemoWindow {
  demo: {
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

jest.setTimeout(60_000);

describeEachBrowser('the demo page', (browserName) => {
  let browser: TestBrowser;
  let t: TestApp;
  let ctx: TestContext;
  let sessions: SessionService;
  /** Every session state the server published, in order. */
  let serverStates: SessionStateEvent[];

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

  /** Opens the demo page (Chromium: loopback candidates only) and waits for the server's session. */
  async function openDemo(query = ''): Promise<TestPage> {
    const page = await ctx.newPage();
    await page.goto(`${t.url}/?${browserName === 'chromium' ? 'loopback=1' : 'demo=1'}${query}`);
    return page;
  }

  async function waitForStreaming(page: TestPage): Promise<void> {
    let outcome: string;
    try {
      outcome = String(await page.waitForFunction(
        () => {
          const d = (window as unknown as DemoWindow).demo;
          // Fail at once (with the diagnosis below) instead of waiting for the timeout.
          if (d?.error || d?.session?.state === 'closed') return 'failed';
          return d?.session?.state === 'streaming' ? 'streaming' : false;
        },
        undefined,
        { timeout: 15_000, polling: 50 },
      ));
    } catch (err) {
      outcome = (err as Error).message;
    }
    if (outcome !== 'streaming') throw new Error(`the session did not stream (${outcome})\n${await diagnose(page)}`);
  }

  /** Both sides' view of a session that did not get going, for the failure message. */
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
    const serverSide = sessions.list().map((s) => ({
      id: s.id,
      state: s.state,
      connection: s.peerConnection.connectionState,
      ice: s.peerConnection.iceConnectionState,
      signaling: s.peerConnection.signalingState,
    }));
    return `browser: ${JSON.stringify(browserSide, null, 1)}\nserver: ${JSON.stringify(serverSide)}\nserver states: ${JSON.stringify(serverStates)}\nproblems: ${JSON.stringify(ctx.problems)}`;
  }

  /** The state the page shows (`data-state`; the badge's text is the state in words). */
  async function badge(page: TestPage): Promise<string> {
    return (await page.getAttribute('#state', 'data-state')) ?? '';
  }

  /** Chromium's view of ICE: every remote candidate's address and the selected pair's. */
  async function selectedPair(page: TestPage): Promise<{ remotes: string[]; selected: { local?: string; remote?: string } }> {
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
  }

  function expectNoProblems(): void {
    expect(ctx.problems).toEqual([]);
  }

  describe.each([
    ['the browser offers (default)', ''],
    ['the server offers (?offerer=server)', '&offerer=server'],
  ])('when %s', (_name, query) => {
    it('decodes the 640x360 test pattern, shows `streaming` and asks for no permission', async () => {
      const page = await openDemo(query);
      await waitForStreaming(page);
      await page.waitForFunction(
        () => {
          const d = (window as unknown as DemoWindow).demo;
          const v = document.querySelector('video')!;
          return d.frames > 30 && v.videoWidth > 0;
        },
        undefined,
        { timeout: 20_000, polling: 100 },
      );
      const seen = await page.evaluate(() => {
        const v = document.querySelector('video')!;
        const d = (window as unknown as DemoWindow).demo;
        return { w: v.videoWidth, h: v.videoHeight, frames: d.frames, error: d.error, paused: v.paused };
      });
      expect(seen).toMatchObject({ w: 640, h: 360, error: null, paused: false });
      expect(seen.frames).toBeGreaterThan(30);
      expect(await badge(page)).toBe('streaming');
      expect(await page.getAttribute('#state', 'data-state')).toBe('streaming');
      expect(sessions.count).toBe(1);
      // ICE stayed on the test addresses: the browser's only remote candidate is the server's
      // (Chromium: 127.0.0.1, and the pair runs 127.0.0.1 <-> 127.0.0.1, Chromium's side
      // peer-reflexive; Firefox: its veth address to the server's end of the pair).
      const ice = await selectedPair(page);
      expect(ice.remotes.length).toBeGreaterThan(0);
      expect(ice.remotes.every((a) => a === browser.serverHost)).toBe(true);
      expect(ice.selected).toEqual({ local: browser.browserAddress, remote: browser.serverHost });

      // No permission was asked for: the probe saw no capture call and no permission query.
      expect(mediaPermissionCalls(ctx.permissionCalls)).toEqual([]);
      expect(ctx.permissionCalls).toEqual([]);
      expectNoProblems();
    });
  });

  it('the permission probe does record a capture request (self-test)', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    // Firefox exposes no navigator.mediaDevices on this origin (http on a non-loopback
    // address is not a secure context): there the page cannot even ask.
    const canCapture = await page.evaluate(() => !!navigator.mediaDevices);
    expect(canCapture).toBe(browserName === 'chromium');
    await page.evaluate(async () => {
      await navigator.permissions.query({ name: 'camera' as PermissionName }).catch(() => undefined);
      // Empty constraints are rejected at once, before any prompt (a real request would leave
      // a pending prompt behind that keeps Chromium from exiting promptly).
      await navigator.mediaDevices?.getUserMedia({}).catch(() => undefined);
    });
    const expected = ['permissions.query', ...(canCapture ? ['mediaDevices.getUserMedia'] : [])];
    await until('probe calls', () => ctx.permissionCalls.length >= expected.length, 5_000);
    expect(mediaPermissionCalls(ctx.permissionCalls).map((c) => c.api)).toEqual(expected);
  });

  it('sends `ping` on the data channel from the page and shows the `pong`', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    // The server reports `streaming` once DTLS is up; SCTP may open a moment later.
    await page.waitForFunction(
      () => (window as unknown as DemoWindow).demo.session?.channel?.readyState === 'open',
      undefined,
      { timeout: 10_000, polling: 50 },
    );
    await page.click('#dataPanel summary'); // the data-channel box is folded away
    await page.fill('#message', 'ping');
    await page.click('#send');
    for (const line of ['> ping', '< pong']) {
      await page.waitForFunction((l) => document.getElementById('log')?.textContent?.includes(l), line, { timeout: 5_000 });
    }
    expectNoProblems();
  });

  it('Hang up closes the session on the server and shows `closed`', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    expect(sessions.count).toBe(1);
    await page.click('#hangup');
    await until('session closed on the server', () => sessions.count === 0, 5_000);
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'closed', undefined, { timeout: 5_000 });
    expect(await badge(page)).toBe('closed');
    expect(await page.textContent('#state')).toBe('Ended');
    expect(await page.textContent('#reasonText')).toBe('You ended the session.');
    expect(await page.textContent('#reason')).toBe('(client-closed)');
    expect(await page.isDisabled('#hangup')).toBe(true);
    expect(serverStates.at(-1)).toMatchObject({ state: 'closed', reason: 'client-closed' });
    expectNoProblems();
  });

  it('closing the tab without hanging up closes the session on the server', async () => {
    const page = await openDemo('&offerer=server');
    await waitForStreaming(page);
    expect(sessions.count).toBe(1);
    await page.close();
    await until('session closed after the tab closed', () => sessions.count === 0, 8_000);
    expect(serverStates.at(-1)).toMatchObject({ state: 'closed', reason: 'client-disconnected' });
    expectNoProblems();
  });

  /** Sends a JSON ping from the page on the data channel and resolves with the reply. */
  async function pingFromPage(page: TestPage, id: number): Promise<string> {
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
          // send() returns nothing since the client SDK queues while the channel is not open
          // (and throws once the session is closed): the pong is what proves the channel.
          try {
            s.send(JSON.stringify({ type: 'ping', id: pingId }));
          } catch (err) {
            clearTimeout(timer);
            reject(err);
          }
        }),
      id,
    );
  }

  async function frames(page: TestPage): Promise<number> {
    return page.evaluate(() => (window as unknown as DemoWindow).demo.frames);
  }

  async function waitForBadge(page: TestPage, state: string): Promise<void> {
    await page.waitForFunction((s) => document.getElementById('state')?.dataset.state === s, state, { timeout: 10_000 });
  }

  async function pcState(page: TestPage): Promise<string> {
    return page.evaluate(() => (window as unknown as { demo: { session: { pc: RTCPeerConnection } } }).demo.session.pc.connectionState);
  }

  /** After a stop: data-only on both sides, no new frames, the data channel still answers. */
  async function expectDataOnly(page: TestPage, pingId: number): Promise<void> {
    await waitForBadge(page, 'data-only');
    expect(sessions.list()[0].state).toBe('data-only');
    expect(await page.isVisible('#overlay')).toBe(true);
    expect(JSON.parse(await pingFromPage(page, pingId))).toEqual({ type: 'pong', id: pingId });
    const before = await frames(page);
    await new Promise((r) => setTimeout(r, 500));
    expect((await frames(page)) - before).toBeLessThanOrEqual(2);
    expect(await pcState(page)).toBe('connected');
  }

  /** After a resume: streaming again, frames decoded again, the data channel still answers. */
  async function expectStreamingAgain(page: TestPage, pingId: number): Promise<void> {
    await waitForBadge(page, 'streaming');
    const before = await frames(page);
    await page.waitForFunction((n) => (window as unknown as DemoWindow).demo.frames > n + 15, before, { timeout: 10_000 });
    expect(await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).videoWidth)).toBe(640);
    expect(JSON.parse(await pingFromPage(page, pingId))).toEqual({ type: 'pong', id: pingId });
    expect(await pcState(page)).toBe('connected');
  }

  // 'one-offer': the client library's videoInOffer (data channel and video in one offer,
  // the data channel first); the resume's new m-line keeps the browser's extension ids.
  for (const offerer of ['client', 'server', 'one-offer'] as const) {
    it(`a stop started by the server keeps the data channel; Resume brings the picture back (${offerer} offered)`, async () => {
      const page = await openDemo(offerer === 'server' ? '&offerer=server' : offerer === 'one-offer' ? '&flow=one-offer' : '');
      await waitForStreaming(page);
      const s = sessions.list()[0];
      type Pc = { demo: { session: { pc: RTCPeerConnection } }; __track?: MediaStreamTrack };
      await page.evaluate(() => {
        const w = window as unknown as Pc;
        w.__track = w.demo.session.pc.getTransceivers()[0].receiver.track;
      });
      await sessions.stopVideo(s.ownerId, s.id);
      await expectDataOnly(page, 1);
      // The client library negotiates the data channel first, so the video m-line is not the
      // BUNDLE tag: the server rejects it; the page's track ends and its stopped transceiver
      // leaves getTransceivers().
      const seen = await page.evaluate(() => {
        const w = window as unknown as Pc;
        return { transceivers: w.demo.session.pc.getTransceivers().length, track: w.__track?.readyState };
      });
      expect(seen).toEqual({ transceivers: 0, track: 'ended' });
      await page.click('#resumeVideo');
      await expectStreamingAgain(page, 2);
      // And once more, to show the cycle repeats.
      await sessions.stopVideo(s.ownerId, s.id);
      await expectDataOnly(page, 3);
      await page.click('#resumeVideo');
      await expectStreamingAgain(page, 4);
      expectNoProblems();
    });
  }

  it('a stop started by the page (transceiver.stop() and a re-offer) keeps the data channel; then resume', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    await page.click('#stopVideo');
    await expectDataOnly(page, 11);
    // The page's own offer rejected its video m-line.
    const serverRemote = sessions.list()[0].peerConnection.remoteDescription!.sdp;
    expect(serverRemote).toMatch(/m=video 0 /);
    await page.click('#resumeVideo');
    await expectStreamingAgain(page, 12);
    await page.click('#stopVideo');
    await expectDataOnly(page, 13);
    await page.click('#hangup');
    await waitForBadge(page, 'closed');
    await until('the session to close on the server', () => sessions.count === 0, 5_000);
    expectNoProblems();
  });
});
