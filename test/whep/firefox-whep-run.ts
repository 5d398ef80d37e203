/**
 * Runs inside a private network namespace (`unshare -n`, started by
 * whep-firefox.browser-spec.ts): the service, the player's page and headless Firefox
 * (Debian's firefox-esr through WebDriver BiDi with puppeteer-core), all in there.
 *
 * Firefox gathers host candidates only on the default route's interface, so the namespace
 * gets a veth pair with test addresses (192.0.2.1 <-> 192.0.2.2, RFC 5737) and a default
 * route over it; the service announces 192.0.2.1. The namespace has no link to anything
 * else: no packet can leave it. Prints one JSON line of results.
 *
 * usage (as root): unshare -n node -r test/helpers/ts-register.js test/whep/firefox-whep-run.ts
 */
import { execFileSync } from 'node:child_process';
import puppeteer from 'puppeteer-core';
import { SessionService } from '../../src/session/session.service';
import { startApp } from '../helpers/app';
import { servePlayerPage } from './player-page';

const ADDRESS = '192.0.2.1';
const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

function netns(): void {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'wt0', 'type', 'veth', 'peer', 'name', 'wt1');
  ip('addr', 'add', `${ADDRESS}/24`, 'dev', 'wt0');
  ip('addr', 'add', '192.0.2.2/24', 'dev', 'wt1');
  ip('link', 'set', 'wt0', 'up');
  ip('link', 'set', 'wt1', 'up');
  ip('route', 'add', 'default', 'via', '192.0.2.2', 'dev', 'wt0');
}

async function main(): Promise<Record<string, unknown>> {
  netns();
  const result: Record<string, unknown> = {};
  const t = await startApp({
    session: {
      announcedAddresses: [ADDRESS],
      bindAddress: ADDRESS,
      remoteAddressFilter: (a) => a.startsWith('192.0.2.'),
    },
    streaming: { authorize: (h) => (h.auth.token === 'letmein' ? true : { allow: false, reason: 'bad token' }) },
  });
  const pages = await servePlayerPage();
  const browser = await puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'media.autoplay.default': 0,
      'media.autoplay.blocking_policy': 0,
    },
  });
  try {
    result.browser = await browser.version();
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.goto(`${pages.origin}/index.html`);
    await page.evaluate((url) => (window as any).play(url, 'Bearer letmein'), `${t.url}/whep/test`);
    const sessions = t.app.get(SessionService);
    try {
      await page.waitForFunction(() => (window as any).decoded > 10, { timeout: 20_000 });
    } catch (err) {
      throw new Error(`no frames in Firefox: ${(err as Error).message}\n${logs.join('\n')}\nstates: ${sessions.list().map((s) => s.state)}`);
    }
    result.size = await page.evaluate(() => {
      const v = document.getElementById('v') as HTMLVideoElement;
      return [v.videoWidth, v.videoHeight];
    });
    const [s] = sessions.list();
    result.owner = s.ownerId.replace(/:.*/, ':');
    result.viewers = sessions.listSources().find((x) => x.id === 'test')?.viewers;

    // Stop-video freezes the picture on the same m-line; resume moves it again.
    await sessions.stopVideo(s.ownerId, s.id);
    result.stoppedState = s.state;
    await new Promise((r) => setTimeout(r, 700));
    const frozen = (await page.evaluate(() => (window as any).decoded)) as number;
    await new Promise((r) => setTimeout(r, 700));
    result.framesWhileStopped = ((await page.evaluate(() => (window as any).decoded)) as number) - frozen;
    await sessions.resumeVideo(s.ownerId, s.id);
    await page.waitForFunction((n: number) => (window as any).decoded > n + 10, { timeout: 10_000 }, frozen);
    result.resumed = true;
    result.connection = await page.evaluate(() => (window as any).player.peer.connectionState);

    await page.evaluate(() => (window as any).unload());
    const end = Date.now() + 5000;
    while (sessions.count > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    result.sessionsAfterUnload = sessions.count;
    return result;
  } finally {
    await browser.close();
    await pages.close();
    await t.close();
  }
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
    process.exit(0);
  },
  (err: Error) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: err.stack ?? String(err) })}\n`);
    process.exit(1);
  },
);
