/**
 * The client SDK's features as the demo page shows them (stats overlay, reconnect and ICE
 * restart, autoplay, binary messages, the send queue, the picker), in real headless Chromium
 * against the real application (loopback only). The page's core flows, stop and resume among
 * them, run in Chromium and Firefox in demo.browser-spec.ts; these stay on Chromium: several
 * reach into Chromium-only behaviour (its transport stats, autoplay of unmuted video, the
 * fullscreen API headless).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamingError } from '../../src/common/streaming-error';
import { ErrorCode } from '../../src/protocol';
import { probe } from '../helpers/session-probe';
import { TestPage, describeEachBrowser } from '../helpers/browser';
import { DemoStats, DemoWindow, useDemoPage } from '../helpers/browser-app';

/** Where the screenshots of the page's states go (printed; look at them). */
const SHOTS = process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'webrtc-oneway-demo-screenshots');

jest.setTimeout(60_000);

describeEachBrowser(
  'the demo page and the client SDK',
  (browserName) => {
    const fx = useDemoPage(browserName);
    const { openDemo, waitForStreaming, badge, pingFromPage, frames, waitForBadge, expectNoProblems } = fx;

    /** Saves a screenshot of the page in a state the test just checked. */
    async function shot(page: TestPage, name: string): Promise<string> {
      mkdirSync(SHOTS, { recursive: true });
      const path = join(SHOTS, `${name}.png`);
      await page.screenshot(path);
      return path;
    }

    async function stats(page: TestPage): Promise<DemoStats | null> {
      return page.evaluate(() => {
        const s = (window as unknown as DemoWindow).demo.stats;
        return s && { ...s, report: undefined };
      });
    }

    it('shows plausible stats in the overlay (640x360, > 20 fps, bytes rising); screenshots of each state', async () => {
      const page = await openDemo('&stats=1');
      await waitForStreaming(page);
      // The first sample has no rate yet; wait for one that has, and the decoder's frame rate.
      await page.waitForFunction(
        () => {
          const s = (window as unknown as DemoWindow).demo.stats;
          return !!s && s.width === 640 && (s.framesPerSecond ?? 0) > 20 && s.bitrate !== undefined;
        },
        undefined,
        { timeout: 15_000, polling: 200 },
      );
      const a = (await stats(page))!;
      await page.waitForFunction((before) => ((window as unknown as DemoWindow).demo.stats?.bytesReceived ?? 0) > before, a.bytesReceived!, { timeout: 5_000 });
      const b = (await stats(page))!;
      console.log(`demo page stats: ${JSON.stringify(b)}`);
      expect(a).toMatchObject({ width: 640, height: 360, codec: 'video/VP8' });
      expect(b.framesPerSecond).toBeGreaterThan(20);
      expect(b.bytesReceived!).toBeGreaterThan(a.bytesReceived!);
      expect(b.bitrate!).toBeGreaterThan(50_000); // the test pattern runs at several hundred kbit/s
      expect(b.roundTripTimeMs).toBeGreaterThanOrEqual(0);
      expect(b.roundTripTimeMs!).toBeLessThan(200); // loopback
      expect(b.packetLossRatio).toBeGreaterThanOrEqual(0);
      expect(b.jitterBufferDelayMs).toBeGreaterThan(0);
      // The overlay shows them, over the picture.
      await expect(page.isVisible('#stats')).resolves.toBe(true);
      expect(await page.textContent('#stats')).toMatch(/640×360\s+\d+ fps\s+VP8/);
      expect(await page.textContent('#stats')).toMatch(/bitrate\s+\d+(\.\d+)? (k|M)bit\/s/);
      // The picture keeps its own aspect ratio.
      const box = (await page.boundingBox('#stage'))!;
      expect(box.width / box.height).toBeCloseTo(640 / 360, 1);
      expect(await page.isVisible('#overlay')).toBe(false);
      expect(await page.textContent('#state')).toBe('Live');
      console.log(`screenshot: ${await shot(page, '1-streaming')}`);

      // data-only: the message over the picture says so in words; the stats overlay stays.
      const s = fx.sessions.list()[0];
      await fx.sessions.stopVideo(s.ownerId, s.id);
      await waitForBadge(page, 'data-only');
      expect(await page.textContent('#overlayText')).toBe('Video paused');
      expect(await page.textContent('#overlayDetail')).toBe('The video was stopped; the session stays open.');
      expect(await page.isVisible('#stats')).toBe(true);
      console.log(`screenshot: ${await shot(page, '2-data-only')}`);

      // closed
      await page.click('#hangup');
      await waitForBadge(page, 'closed');
      expect(await page.textContent('#overlayText')).toBe('The session has ended');
      expect(await page.textContent('#overlayAction')).toBe('Watch again');
      console.log(`screenshot: ${await shot(page, '3-closed')}`);
      expectNoProblems();
    });

    it('reconnecting shows the attempt and the next try, then comes back by itself', async () => {
      const page = await openDemo('&stats=1');
      await waitForStreaming(page);
      const first = fx.sessions.list()[0];
      // The node "goes away" and refuses new sessions for a while.
      const refuse = jest.spyOn(fx.sessions, 'start').mockRejectedValue(new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'the server is shutting down'));
      try {
        fx.sessions.close(first.ownerId, first.id, 'server-shutdown');
        await page.waitForFunction(() => ((window as unknown as { demo: { session: { reconnectInfo?: { attempt: number } } } }).demo.session.reconnectInfo?.attempt ?? 0) >= 3, undefined, {
          timeout: 15_000,
        });
        await page.waitForFunction(() => /next try in \d+ s/.test(document.getElementById('overlayDetail')?.textContent ?? ''), undefined, { timeout: 5_000 });
        expect(await badge(page)).toBe('reconnecting');
        expect(await page.textContent('#overlayText')).toMatch(/^Reconnecting… attempt \d+ of 20$/);
        expect(await page.textContent('#overlayDetail')).toMatch(/^The server is restarting\. — next try in \d+ s$/);
        expect(await page.textContent('#state')).toMatch(/^Reconnecting \(attempt \d+\)$/);
        expect(await page.textContent('#log')).toMatch(/reconnect attempt 2 of 20 at /);
        console.log(`screenshot: ${await shot(page, '4-reconnecting')}`);
      } finally {
        refuse.mockRestore();
      }
      await waitForBadge(page, 'streaming');
      expect(fx.sessions.count).toBe(1);
      expect(fx.sessions.list()[0].id).not.toBe(first.id);
      const before = await frames(page);
      await page.waitForFunction((n) => (window as unknown as DemoWindow).demo.frames > n + 15, before, { timeout: 10_000 });
      expect(JSON.parse(await pingFromPage(page, 21))).toEqual({ type: 'pong', id: 21 });
    });

    it.each([
      ['the browser offered', ''],
      ['the server offered', '&offerer=server'],
    ])('restarts ICE in place (%s): same session, new ICE credentials, the picture and the data channel carry on', async (_name, query) => {
      const page = await openDemo(query);
      await waitForStreaming(page);
      const id = fx.sessions.list()[0].id;
      const ufrag = () => fx.sessions.list()[0].peerConnection.remoteDescription!.sdp.match(/a=ice-ufrag:(\S+)/)![1];
      const before = ufrag();
      const trigger = await page.evaluate(async () => {
        const s = (window as unknown as { demo: { session: EventTarget & { restartIce(): Promise<void> } } }).demo.session;
        const seen = new Promise<string>((resolve) => s.addEventListener('ice-restart', (e) => resolve((e as Event & { trigger: string }).trigger)));
        await s.restartIce();
        return seen;
      });
      expect(trigger).toBe('manual');
      expect(ufrag()).not.toBe(before);
      await page.waitForFunction(() => (window as unknown as { demo: { session: { pc: RTCPeerConnection } } }).demo.session.pc.connectionState === 'connected', undefined, { timeout: 10_000 });
      const n = await frames(page);
      await page.waitForFunction((x) => (window as unknown as DemoWindow).demo.frames > x + 30, n, { timeout: 10_000 });
      expect(JSON.parse(await pingFromPage(page, 31))).toEqual({ type: 'pong', id: 31 });
      expect(fx.sessions.list().map((s) => [s.id, s.state])).toEqual([[id, 'streaming']]);
      expect(fx.sessions.list()[0].peerConnection.connectionState).toBe('connected');
      expectNoProblems();
    });

    // Silences werift's sockets where the session runs (this thread or its media worker).
    it('a connection that stays `disconnected` is restarted by the client by itself (ICE restart, same session)', async () => {
      const page = await openDemo();
      await waitForStreaming(page);
      const session = fx.sessions.list()[0];
      await page.evaluate(() => {
        const s = (window as unknown as { demo: { session: EventTarget } }).demo.session;
        (window as unknown as { iceRestart: Promise<string> }).iceRestart = new Promise((resolve) =>
          s.addEventListener('ice-restart', (e) => resolve((e as Event & { trigger: string }).trigger)),
        );
      });
      // The server's UDP goes silent (no media, no STUN answers): Chromium's consent checks
      // fail and its connection goes `disconnected`.
      await probe(session, { action: 'silence-ice', silent: true });
      let trigger: string;
      try {
        trigger = await page.evaluate(() => (window as unknown as { iceRestart: Promise<string> }).iceRestart);
      } finally {
        await probe(session, { action: 'silence-ice', silent: false });
      }
      expect(trigger).toBe('disconnected');
      await page.waitForFunction(() => (window as unknown as { demo: { session: { pc: RTCPeerConnection } } }).demo.session.pc.connectionState === 'connected', undefined, { timeout: 10_000 });
      const n = await frames(page);
      await page.waitForFunction((x) => (window as unknown as DemoWindow).demo.frames > x + 30, n, { timeout: 10_000 });
      expect(JSON.parse(await pingFromPage(page, 41))).toEqual({ type: 'pong', id: 41 });
      expect(fx.sessions.list().map((s) => s.id)).toEqual([session.id]);
      expect(await page.textContent('#log')).toContain('restarting the network path (disconnected)');
    });

    it('an autoplay refusal is reported (autoplay-blocked), not thrown; session.play() from a click plays', async () => {
      // Chromium lets a video-only stream autoplay even unmuted (checked: with
      // --autoplay-policy=document-user-activation-required too), so the refusal a stricter
      // browser (Safari) gives is simulated: this element's first play() rejects as theirs does.
      const page = await openDemo();
      await waitForStreaming(page);
      const blocked = await page.evaluate(async () => {
        const d = (window as unknown as { demo: { client: { start(o: object): Promise<EventTarget & { play(): Promise<void>; playBlocked: boolean }> } } }).demo;
        const video = document.createElement('video'); // not muted, no autoplay attribute
        const realPlay = video.play.bind(video);
        let refusals = 0;
        video.play = () => (refusals++ === 0 ? Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError')) : realPlay());
        document.body.append(video);
        const s = await d.client.start({ video });
        const name = await new Promise<string>((resolve, reject) => {
          setTimeout(() => reject(new Error('no autoplay-blocked event')), 10_000);
          s.addEventListener('autoplay-blocked', (e) => resolve((e as Event & { error: { name: string } }).error.name));
        });
        const button = document.createElement('button');
        button.id = 'unmutedPlay';
        button.textContent = 'play';
        button.onclick = () => void s.play();
        document.body.prepend(button);
        (window as unknown as { unmuted: { video: HTMLVideoElement; s: typeof s } }).unmuted = { video, s };
        return { name, playBlocked: s.playBlocked, paused: video.paused };
      });
      expect(blocked).toEqual({ name: 'NotAllowedError', playBlocked: true, paused: true });
      await page.click('#unmutedPlay');
      await page.waitForFunction(() => !(window as unknown as { unmuted: { video: HTMLVideoElement } }).unmuted.video.paused, undefined, { timeout: 5_000 });
      // play() resolves once playback really started.
      await page.waitForFunction(() => !(window as unknown as { unmuted: { s: { playBlocked: boolean } } }).unmuted.s.playBlocked, undefined, { timeout: 5_000 });
      expectNoProblems();
    });

    it('binary messages go both ways (ArrayBuffer in the page, Buffer on the server)', async () => {
      const page = await openDemo();
      await waitForStreaming(page);
      const got: Buffer[] = [];
      fx.sessions.events.on('binary', (_owner, m) => {
        got.push(m.data);
        fx.sessions.send(m.sessionId, Buffer.from([...m.data].reverse()));
      });
      const reply = await page.evaluate(
        () =>
          new Promise<number[]>((resolve, reject) => {
            const s = (window as unknown as { demo: { session: EventTarget & { send(d: unknown): void } } }).demo.session;
            setTimeout(() => reject(new Error('no binary reply')), 5000);
            s.addEventListener('message', (e) => {
              const data = (e as MessageEvent).data;
              if (data instanceof ArrayBuffer) resolve([...new Uint8Array(data)]);
            });
            s.send(new Uint8Array([1, 2, 3, 250]));
          }),
      );
      expect(got.map((b) => [...b])).toEqual([[1, 2, 3, 250]]);
      expect(reply).toEqual([250, 3, 2, 1]);
    });

    it('send() queues until the data channel opens, throws CHANNEL_CLOSED after close; client.close() is awaitable', async () => {
      const page = await openDemo();
      await waitForStreaming(page);
      const result = await page.evaluate(async () => {
        type S = EventTarget & { send(d: string): void; close(): Promise<void>; channel?: RTCDataChannel };
        const d = (window as unknown as { demo: { client: { start(o: object): Promise<S>; close(): Promise<void> } } }).demo;
        const s = await d.client.start({});
        const stateAtSend = s.channel?.readyState;
        const pong = new Promise<string>((resolve) => s.addEventListener('message', (e) => resolve(String((e as MessageEvent).data))));
        s.send('ping');
        const reply = await pong;
        await s.close();
        let code: string | undefined;
        try {
          s.send('x');
        } catch (err) {
          code = (err as { code?: string }).code;
        }
        return { stateAtSend, reply, code };
      });
      expect(result).toEqual({ stateAtSend: 'connecting', reply: 'pong', code: 'CHANNEL_CLOSED' });
      expect(fx.sessions.count).toBe(1);
      // Resolves once the server closed the sessions.
      await page.evaluate(() => (window as unknown as { demo: { client: { close(): Promise<void> } } }).demo.client.close());
      expect(fx.sessions.count).toBe(0);
      expect(fx.serverStates.at(-1)).toMatchObject({ state: 'closed', reason: 'client-closed' });
    });

    it('lists the sources in the picker and has a favicon, fullscreen and the picture first', async () => {
      const page = await openDemo();
      await waitForStreaming(page);
      await page.waitForFunction(() => document.querySelectorAll('#source option').length > 1, undefined, { timeout: 5_000 });
      const options = await page.allTextContents('#source option');
      expect(options[0]).toBe('default');
      expect(options.some((o) => /^test \(test, VP8\)$/.test(o))).toBe(true);
      expect(await page.getAttribute('link[rel=icon]', 'href')).toMatch(/^data:image\/svg\+xml,/);
      const stage = (await page.boundingBox('#stage'))!;
      const bar = (await page.boundingBox('#state'))!;
      expect(stage.y).toBeLessThan(20); // the picture is at the top
      expect(bar.y).toBeLessThan(800); // the controls are on screen (800 px viewport)
      await page.click('#fullscreen');
      await page.waitForFunction(() => document.fullscreenElement?.id === 'stage', undefined, { timeout: 5_000 });
      console.log(`screenshot: ${await shot(page, '5-fullscreen')}`);
      expectNoProblems();
    });
  },
  ['chromium'],
);
