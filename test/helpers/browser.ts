/**
 * Real headless browsers for the browser tests: Chromium (playwright-core driving Debian's
 * /usr/bin/chromium) and Firefox (puppeteer-core over WebDriver BiDi driving Debian's
 * /usr/bin/firefox-esr). No browser download. One browser per test file, a fresh context per
 * test. `describeEachBrowser` runs a suite once per browser; `TestPage` is the small page
 * API both drivers give the tests.
 *
 * Chromium stays on 127.0.0.0/8: the flags below switch off its background networking and
 * DNS, every page request to a non-loopback host is aborted, and WebRTC only ever talks to
 * the server's 127.0.0.1 candidate (the test app gathers and pairs only 127.x; see
 * test/helpers/app.ts). Without a getUserMedia permission Chromium gathers only the default
 * route's address (never 127.0.0.1), which the server does not pair; the connection is made
 * by Chromium's checks to the server's 127.0.0.1 candidate (peer-reflexive on the server).
 *
 * Firefox, without a capture permission, gathers host candidates only on the interface of
 * the default route, and its loopback candidate is not enough. So it runs in a private
 * network namespace (`ip netns`, as root) whose only link is a veth pair with test addresses
 * from 198.51.100.0/24 (TEST-NET-2; this machine's own interface uses 192.0.2.0/24): the
 * host end (the server listens, gathers and pairs there) and the namespace end with a
 * default route to an address nobody has, so nothing can leave. Its proxy points at a dead
 * local port (Firefox calls its remote-settings service at start whatever the prefs say).
 * test/helpers/firefox-in-netns.js runs it there and relays its WebDriver BiDi port.
 */
import { Browser, BrowserContext, ConsoleMessage, Page, chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type * as Puppeteer from 'puppeteer-core';
import type { SessionOptions } from '../../src/session/session.options';
import { LOOPBACK_ONLY } from './app';

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

export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs], headless: true });
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

export { until } from './wait';

// --- Chromium and Firefox behind one small API ----------------------------------------------

export type BrowserName = 'chromium' | 'firefox';
export const BROWSERS: readonly BrowserName[] = ['chromium', 'firefox'];
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/** What a test needs of a page, the same in both browsers. */
export interface TestPage {
  goto(url: string): Promise<void>;
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>;
  /** Polls `fn` in the page until it returns a truthy value, and returns that value. */
  waitForFunction<R, A = undefined>(fn: (arg: A) => R, arg?: A, opts?: { timeout?: number; polling?: number }): Promise<R>;
  click(selector: string): Promise<void>;
  fill(selector: string, value: string): Promise<void>;
  textContent(selector: string): Promise<string | null>;
  getAttribute(selector: string, name: string): Promise<string | null>;
  isVisible(selector: string): Promise<boolean>;
  isDisabled(selector: string): Promise<boolean>;
  /** The element's box in CSS pixels (viewport coordinates). */
  boundingBox(selector: string): Promise<{ x: number; y: number; width: number; height: number }>;
  /** The text of every element matching `selector`, in document order. */
  allTextContents(selector: string): Promise<string[]>;
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

export interface TestContext {
  permissionCalls: PermissionCall[];
  /** Console errors, uncaught exceptions and requests to a host other than the test's. */
  problems: PageProblem[];
  newPage(): Promise<TestPage>;
  close(): Promise<void>;
}

export interface TestBrowser {
  name: BrowserName;
  /** The address the test server listens on and announces (pages load from it). */
  serverHost: string;
  /** The browser's own address, as the server sees its ICE checks. */
  browserAddress: string;
  /** Session options that keep ICE on these two addresses. */
  sessionOptions: Partial<SessionOptions>;
  newContext(): Promise<TestContext>;
  close(): Promise<void>;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why a browser cannot run here, or undefined when it can. */
export function browserMissing(name: BrowserName): string | undefined {
  if (name === 'chromium') {
    return executable(CHROMIUM_PATH) ? undefined : `Chromium not found at ${CHROMIUM_PATH} (install Debian's chromium)`;
  }
  if (!executable(FIREFOX_PATH)) return `Firefox not found at ${FIREFOX_PATH} (install Debian's firefox-esr)`;
  if (process.getuid?.() !== 0 || !executable('/usr/sbin/ip') && !executable('/sbin/ip')) {
    return 'Firefox runs in a network namespace of its own: that needs root and iproute2';
  }
  return undefined;
}

/**
 * `describe` once per browser (`fn` gets its name). A browser that is missing fails loudly
 * in CI (process.env.CI set), and is skipped with a warning elsewhere.
 */
export function describeEachBrowser(name: string, fn: (browser: BrowserName) => void, browsers = BROWSERS): void {
  for (const b of browsers) {
    const title = `${name} [${b}]`;
    const missing = browserMissing(b);
    if (!missing) {
      describe(title, () => fn(b));
    } else if (process.env.CI) {
      describe(title, () => {
        it(`needs ${b}`, () => {
          throw new Error(`${missing}; browser tests cannot be skipped in CI`);
        });
      });
    } else {
      console.warn(`SKIPPING browser tests "${title}": ${missing}`);
      describe.skip(title, () => fn(b));
    }
  }
}

/** `chromiumArgs`: flags added for this launch (e.g. `--autoplay-policy=no-user-gesture-required`). */
export async function launch(name: BrowserName, opts: { chromiumArgs?: string[] } = {}): Promise<TestBrowser> {
  return name === 'chromium' ? launchChromium(opts.chromiumArgs) : launchFirefox();
}

async function launchChromium(extraArgs?: string[]): Promise<TestBrowser> {
  const browser = await launchBrowser(extraArgs);
  return {
    name: 'chromium',
    serverHost: '127.0.0.1',
    browserAddress: '127.0.0.1',
    sessionOptions: LOOPBACK_ONLY,
    async newContext() {
      const ctx = await newContext(browser);
      return {
        permissionCalls: ctx.permissionCalls,
        problems: ctx.problems,
        newPage: async () => playwrightPage(await ctx.newPage()),
        close: () => ctx.close(),
      };
    },
    close: () => browser.close(),
  };
}

function playwrightPage(page: Page): TestPage {
  return {
    goto: async (url) => void (await page.goto(url)),
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    async waitForFunction(fn, arg, opts) {
      const handle = await page.waitForFunction(fn as never, arg, { timeout: opts?.timeout ?? 10_000, polling: opts?.polling ?? 50 });
      return (await handle.jsonValue()) as never;
    },
    click: (sel) => page.locator(sel).click(),
    fill: (sel, value) => page.locator(sel).fill(value),
    textContent: (sel) => page.locator(sel).textContent(),
    getAttribute: (sel, name) => page.locator(sel).getAttribute(name),
    isVisible: (sel) => page.locator(sel).isVisible(),
    isDisabled: (sel) => page.locator(sel).isDisabled(),
    boundingBox: async (sel) => {
      const box = await page.locator(sel).boundingBox();
      if (!box) throw new Error(`${sel} is not displayed`);
      return box;
    },
    allTextContents: (sel) => page.locator(sel).allTextContents(),
    screenshot: async (path) => void (await page.screenshot({ path })),
    close: () => page.close(),
  };
}

/** The private network of one Firefox: a namespace and a veth pair with a /29 of TEST-NET-2. */
interface FirefoxNet {
  ns: string;
  hostAddress: string;
  nsAddress: string;
  remove(): void;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function createFirefoxNet(): FirefoxNet {
  // One /29 per process, so that test runs side by side do not collide.
  const slot = process.pid % 31;
  const base = 8 * slot;
  const ns = `wrtff${process.pid}`;
  const hostIf = `wrth${process.pid}`.slice(0, 15);
  const nsIf = `wrtn${process.pid}`.slice(0, 15);
  const hostAddress = `198.51.100.${base + 1}`;
  const nsAddress = `198.51.100.${base + 2}`;
  const remove = () => {
    spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', hostIf]);
  };
  remove(); // leftovers of a run that was killed
  // and those of killed runs of other processes (their pid is gone)
  for (const line of spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout?.split('\n') ?? []) {
    const pid = /^wrtff(\d+)/.exec(line)?.[1];
    if (pid && !alive(Number(pid))) {
      spawnSync('ip', ['netns', 'del', `wrtff${pid}`]);
      spawnSync('ip', ['link', 'del', `wrth${pid}`.slice(0, 15)]);
    }
  }
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', ns);
    ip('addr', 'add', `${hostAddress}/29`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${nsAddress}/29`, 'dev', nsIf);
    ip('-n', ns, 'link', 'set', nsIf, 'up');
    // A default route (Firefox picks its interface by it) to an address nobody answers for.
    ip('-n', ns, 'route', 'add', 'default', 'via', `198.51.100.${base + 3}`, 'dev', nsIf);
  } catch (err) {
    remove();
    throw err;
  }
  return { ns, hostAddress, nsAddress, remove };
}

async function launchFirefox(): Promise<TestBrowser> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const puppeteer = require('puppeteer-core') as typeof Puppeteer;
  const net = createFirefoxNet();
  const onExit = () => net.remove();
  process.once('exit', onExit);
  let browser: Puppeteer.Browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: join(__dirname, 'firefox-in-netns.js'),
      headless: true,
      dumpio: !!process.env.FIREFOX_DUMPIO,
      env: { ...process.env, WEBRTC_TEST_NETNS: net.ns, FIREFOX_PATH },
      extraPrefsFirefox: {
        // Host candidates as real addresses, and loopback ones too.
        'media.peerconnection.ice.loopback': true,
        'media.peerconnection.ice.obfuscate_host_addresses': false,
        'media.navigator.permission.disabled': true,
        'media.autoplay.default': 0,
        // Everything but the test server goes to a dead local port.
        'network.proxy.type': 1,
        'network.proxy.http': '127.0.0.1',
        'network.proxy.http_port': 9,
        'network.proxy.ssl': '127.0.0.1',
        'network.proxy.ssl_port': 9,
        'network.proxy.socks': '127.0.0.1',
        'network.proxy.socks_port': 9,
        'network.proxy.no_proxies_on': net.hostAddress,
        'network.proxy.allow_hijacking_localhost': true,
        'network.dns.disableIPv6': true,
        'network.connectivity-service.enabled': false,
        'network.captive-portal-service.enabled': false,
        'app.update.enabled': false,
        'browser.safebrowsing.malware.enabled': false,
        'browser.safebrowsing.phishing.enabled': false,
        'datareporting.healthreport.uploadEnabled': false,
        'toolkit.telemetry.enabled': false,
      },
    });
  } catch (err) {
    process.off('exit', onExit);
    net.remove();
    throw err;
  }
  const allowed = (url: string) => {
    if (/^(data|about|blob):/.test(url)) return true;
    try {
      return new URL(url).hostname === net.hostAddress;
    } catch {
      return false;
    }
  };
  return {
    name: 'firefox',
    serverHost: net.hostAddress,
    browserAddress: net.nsAddress,
    sessionOptions: {
      announcedAddresses: [net.hostAddress],
      bindAddress: net.hostAddress,
      remoteAddressFilter: (address) => address === net.nsAddress,
    },
    async newContext() {
      const context = await browser.createBrowserContext();
      const permissionCalls: PermissionCall[] = [];
      const problems: PageProblem[] = [];
      return {
        permissionCalls,
        problems,
        async newPage() {
          const page = await context.newPage();
          await page.exposeFunction('__permissionProbe', (call: PermissionCall) => void permissionCalls.push(call));
          await page.evaluateOnNewDocument(PERMISSION_PROBE);
          page.on('console', (m) => {
            if (m.type() === 'error') problems.push({ kind: 'console', text: m.text(), url: m.location()?.url });
          });
          page.on('pageerror', (e) => problems.push({ kind: 'pageerror', text: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
          // The namespace has nowhere to send anything else; a request to another host is still a bug.
          page.on('request', (r) => {
            if (!allowed(r.url())) problems.push({ kind: 'blocked-request', text: `request to another host ${r.url()}`, url: r.url() });
          });
          return puppeteerPage(page);
        },
        close: () => context.close().catch(() => undefined),
      };
    },
    async close() {
      await browser.close().catch(() => undefined);
      process.off('exit', onExit);
      net.remove();
    },
  };
}

function puppeteerPage(page: Puppeteer.Page): TestPage {
  return {
    goto: async (url) => void (await page.goto(url)),
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    async waitForFunction(fn, arg, opts) {
      const handle = await page.waitForFunction(fn as (a: unknown) => unknown, { timeout: opts?.timeout ?? 10_000, polling: opts?.polling ?? 50 }, arg);
      return (await handle.jsonValue()) as never;
    },
    click: (sel) => page.locator(sel).click(),
    fill: (sel, value) => page.locator(sel).fill(value),
    textContent: (sel) => page.$eval(sel, (e) => e.textContent),
    getAttribute: (sel, name) => page.$eval(sel, (e, n) => e.getAttribute(n), name),
    isVisible: (sel) =>
      page.$eval(sel, (e) => {
        const style = getComputedStyle(e);
        const box = e.getBoundingClientRect();
        return style.visibility !== 'hidden' && style.display !== 'none' && box.width > 0 && box.height > 0;
      }),
    isDisabled: (sel) => page.$eval(sel, (e) => (e as HTMLButtonElement).disabled),
    boundingBox: (sel) =>
      page.$eval(sel, (e) => {
        const r = e.getBoundingClientRect();
        return { x: r.x, y: r.y, width: r.width, height: r.height };
      }),
    allTextContents: (sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent ?? '')),
    screenshot: async (path) => void (await page.screenshot({ path: path as `${string}.png` })),
    close: () => page.close(),
  };
}

/**
 * Serves the test pages of test/browser/pages and socket.io-client's browser bundle
 * (`/socket.io.min.js`) on `host`: pages written from docs/protocol.md alone, which talk to
 * the server by the URL they are given.
 */
export async function servePages(host: string): Promise<{ url: string; close(): Promise<void> }> {
  const root = join(__dirname, '..', 'browser', 'pages');
  const files: Record<string, { path: string; type: string }> = {
    '/socket.io.min.js': { path: join(__dirname, '..', '..', 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js'), type: 'text/javascript' },
    '/protocol-viewer.js': { path: join(root, 'protocol-viewer.js'), type: 'text/javascript' },
    '/classic.html': { path: join(root, 'classic.html'), type: 'text/html; charset=utf-8' },
    '/audio.html': { path: join(root, 'audio.html'), type: 'text/html; charset=utf-8' },
  };
  const server: Server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-cache' }).end(readFileSync(f.path));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
