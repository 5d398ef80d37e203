/**
 * Headless Chromium for the browser tests (playwright-core driving Debian's /usr/bin/chromium;
 * no browser download). One browser per test file, a fresh context per test.
 *
 * Everything stays on 127.0.0.0/8: the flags below switch off Chromium's background
 * networking and DNS, every page request to a non-loopback host is aborted, and WebRTC only
 * ever talks to the server's 127.0.0.1 candidate (the page runs with `?loopback=1`, and the
 * test app gathers and pairs only 127.x; see test/helpers/app.ts).
 *
 * Note on WebRTC: without a getUserMedia permission Chromium does not enumerate network
 * interfaces, so it gathers only the default route's address (never 127.0.0.1, even with
 * --allow-loopback-in-peer-connection). The page's loopback filter therefore sends no
 * candidate at all, and the connection is made by Chromium's checks to the server's
 * 127.0.0.1 candidate (the server sees a 127.0.0.1 peer-reflexive candidate).
 */
import { Browser, BrowserContext, ConsoleMessage, Page, chromium } from 'playwright-core';
import { accessSync, constants } from 'node:fs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The launch flags (Playwright adds its own defaults, e.g. a temporary user-data-dir). */
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--no-pings',
  // Real IPs instead of mDNS names (no multicast DNS traffic), loopback allowed for WebRTC.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  // No name resolution at all except for loopback (the tests only use IP literals).
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  // Deliberately NOT --use-fake-ui-for-media-stream: the page must never need a permission.
];

/** Whether /usr/bin/chromium (or $CHROMIUM_PATH) is there and executable. */
export function chromiumAvailable(path = CHROMIUM_PATH): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `describe` when Chromium is available. Without it: in CI (process.env.CI set) the suite
 * fails loudly; elsewhere it is skipped with a warning.
 */
export function describeWithBrowser(name: string, fn: () => void): void {
  if (chromiumAvailable()) return describe(name, fn);
  const msg = `Chromium not found at ${CHROMIUM_PATH} (set CHROMIUM_PATH or install Debian's chromium package)`;
  if (process.env.CI) {
    describe(name, () => {
      it('needs Chromium', () => {
        throw new Error(`${msg}; browser tests cannot be skipped in CI`);
      });
    });
    return;
  }
  console.warn(`SKIPPING browser tests "${name}": ${msg}`);
  describe.skip(name, fn);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** One recorded call of a permission-related API in a page. */
export interface PermissionCall {
  api: string;
  detail?: string;
  url: string;
}

/** Problems the page reported: console errors, uncaught exceptions, blocked requests. */
export interface PageProblem {
  kind: 'console' | 'pageerror' | 'blocked-request';
  text: string;
  url?: string;
}

export interface BrowserContextHandle {
  context: BrowserContext;
  /** Every permission-related API call any page of the context made. */
  permissionCalls: PermissionCall[];
  /** Console errors, uncaught exceptions and blocked (non-loopback) requests of every page. */
  problems: PageProblem[];
  /** A new page whose problems are collected. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Installed before any page script: records every call that could ask for a permission
 * (media capture, permission queries and the other prompting APIs) and then lets it proceed.
 * Reports through the `__permissionProbe` binding, so nothing is lost when the page closes,
 * and keeps a copy in `window.__permissionCalls`.
 */
const PERMISSION_PROBE = `(() => {
  const calls = [];
  Object.defineProperty(window, '__permissionCalls', { value: calls });
  const record = (api, detail) => {
    const entry = { api, detail: detail === undefined ? undefined : String(detail), url: location.href };
    calls.push(entry);
    try { window.__permissionProbe && window.__permissionProbe(entry); } catch {}
  };
  const describe = (x) => { try { return JSON.stringify(x); } catch { return String(x); } };
  const wrap = (obj, name, api, detailOf) => {
    if (!obj) return;
    const original = obj[name];
    if (typeof original !== 'function') return;
    Object.defineProperty(obj, name, {
      configurable: true,
      writable: true,
      value: function (...args) {
        record(api, detailOf ? detailOf(args) : undefined);
        return original.apply(this, args);
      },
    });
  };
  if (typeof MediaDevices !== 'undefined') {
    wrap(MediaDevices.prototype, 'getUserMedia', 'mediaDevices.getUserMedia', (a) => describe(a[0]));
    wrap(MediaDevices.prototype, 'getDisplayMedia', 'mediaDevices.getDisplayMedia', (a) => describe(a[0]));
  }
  wrap(Navigator.prototype, 'getUserMedia', 'navigator.getUserMedia', (a) => describe(a[0]));
  wrap(Navigator.prototype, 'webkitGetUserMedia', 'navigator.webkitGetUserMedia', (a) => describe(a[0]));
  if (typeof Permissions !== 'undefined') {
    wrap(Permissions.prototype, 'query', 'permissions.query', (a) => a[0] && a[0].name);
  }
  if (typeof Notification !== 'undefined') wrap(Notification, 'requestPermission', 'Notification.requestPermission');
  if (typeof Geolocation !== 'undefined') {
    wrap(Geolocation.prototype, 'getCurrentPosition', 'geolocation.getCurrentPosition');
    wrap(Geolocation.prototype, 'watchPosition', 'geolocation.watchPosition');
  }
})();`;

/** Hosts a page may load from: loopback only. */
function isLoopbackUrl(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('about:') || url.startsWith('blob:')) return true;
  try {
    const host = new URL(url).hostname;
    return /^127\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost' || host === '[::1]';
  } catch {
    return false;
  }
}

/** A fresh context with the permission probe, loopback-only requests and problem collection. */
export async function newContext(browser: Browser): Promise<BrowserContextHandle> {
  // No permissions granted: a capture request would have to prompt (and is recorded).
  const context = await browser.newContext({ permissions: [], viewport: { width: 1000, height: 800 } });
  const permissionCalls: PermissionCall[] = [];
  const problems: PageProblem[] = [];
  await context.exposeBinding('__permissionProbe', (_source, call: PermissionCall) => {
    permissionCalls.push(call);
  });
  await context.addInitScript(PERMISSION_PROBE);
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLoopbackUrl(url)) return route.continue();
    problems.push({ kind: 'blocked-request', text: `blocked non-loopback request ${url}`, url });
    return route.abort('blockedbyclient');
  });
  const watch = (page: Page) => {
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') problems.push({ kind: 'console', text: m.text(), url: m.location().url });
    });
    page.on('pageerror', (e) => problems.push({ kind: 'pageerror', text: e.stack ?? e.message }));
  };
  context.on('page', watch);
  return {
    context,
    permissionCalls,
    problems,
    async newPage() {
      return context.newPage(); // watched through the context's 'page' event
    },
    async close() {
      await context.close().catch(() => undefined);
    },
  };
}

/** Only the permission calls that concern the camera or the microphone. */
export function mediaPermissionCalls(calls: PermissionCall[]): PermissionCall[] {
  return calls.filter(
    (c) =>
      /getUserMedia|getDisplayMedia/.test(c.api) ||
      (c.api === 'permissions.query' && /camera|microphone|display-capture/.test(c.detail ?? '')),
  );
}

/** Polls a Node-side condition (for server state) until it holds. */
export async function waitUntil(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
