/**
 * A published WHEP player nobody here wrote, `@eyevinn/webrtc-player` (npm), in real
 * headless Chromium, against the service. The player's page is served from another origin
 * (a second HTTP server on 127.0.0.1, another port; a page that Playwright fulfils counts as
 * public and may not reach loopback) so that its fetches to the service are cross-origin:
 * CORS and the exposed Location header are exercised as a real deployment would.
 */
import type { Browser, Page } from 'playwright-core';
import { SessionService } from '../../src/session/session.service';
import { TestApp, startApp } from '../helpers/app';
import { BrowserContextHandle, describeWithBrowser, launchBrowser, newContext, until } from '../helpers/browser';
import { servePlayerPage } from './player-page';

jest.setTimeout(60_000);

describeWithBrowser('a published WHEP player (@eyevinn/webrtc-player) in headless Chromium', () => {
  let browser: Browser;
  let t: TestApp;
  let ctx: BrowserContextHandle;
  let pages: { origin: string; close(): Promise<void> };
  let PLAYER_ORIGIN: string;

  beforeAll(async () => {
    pages = await servePlayerPage();
    PLAYER_ORIGIN = pages.origin;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await pages?.close();
  });
  afterEach(async () => {
    await ctx?.close();
    await t?.close();
  });

  async function playerPage(): Promise<Page> {
    ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${PLAYER_ORIGIN}/index.html`);
    return page;
  }

  it('plays a source (video frames, cross-origin), counts as a viewer, freezes on stop-video and plays on after resume, and unload DELETEs it', async () => {
    t = await startApp({
      streaming: {
        whep: { allowOrigin: [PLAYER_ORIGIN] },
        authorize: (h) => (h.auth.token === 'letmein' ? true : { allow: false, reason: 'bad token' }),
      },
    });
    const page = await playerPage();
    await page.evaluate(([url]) => (window as any).play(url, 'Bearer letmein'), [`${t.url}/whep/test`]);
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.waitForFunction(() => (window as any).decoded > 10, undefined, { timeout: 20_000 }).catch((e) => {
      throw new Error(`${e.message}\n${logs.join('\n')}\n${JSON.stringify(ctx.problems)}\n${t.app.get(SessionService).list().map((s) => s.state)}`);
    });
    const size = await page.evaluate(() => {
      const v = document.getElementById('v') as HTMLVideoElement;
      return [v.videoWidth, v.videoHeight];
    });
    expect(size).toEqual([640, 360]);
    const sessions = t.app.get(SessionService);
    expect(sessions.list().map((s) => s.ownerId)).toEqual([expect.stringMatching(/^whep:/)]);
    expect(sessions.listSources().find((s) => s.id === 'test')?.viewers).toBe(1);

    // Stop-video: the picture freezes on the same m-line, no renegotiation; resume plays on.
    const [s] = sessions.list();
    await sessions.stopVideo(s.ownerId, s.id);
    expect(s.state).toBe('data-only');
    await new Promise((r) => setTimeout(r, 700));
    const frozen = await page.evaluate(() => (window as any).decoded as number);
    await new Promise((r) => setTimeout(r, 700));
    expect(await page.evaluate(() => (window as any).decoded)).toBeLessThanOrEqual(frozen + 1);
    await sessions.resumeVideo(s.ownerId, s.id);
    await page.waitForFunction((n) => (window as any).decoded > n + 10, frozen, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as any).player.peer.connectionState)).toBe('connected');

    await page.evaluate(() => (window as any).unload());
    await until('the session ended by DELETE', () => sessions.count === 0, 5000);
    expect(ctx.problems.filter((p) => p.kind !== 'console' || !/WebRTC-player/.test(p.text))).toEqual([]);
  });
});
