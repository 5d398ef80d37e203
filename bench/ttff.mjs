#!/usr/bin/env node
/**
 * Time to first frame (TTFF) of the demo page in headless Chromium, against the built
 * service started in a process of its own (bench/ttff-server.mjs; loopback only). Until
 * 2026-12-04 the service ran in this process, beside playwright's driver of the browser.
 *
 *   npm run build && node bench/ttff.mjs [--runs=10] [--offerer=client|server] [--warmup=1] [--gop=SECONDS]
 *       [--flow=one-offer|data-first] [--timeline] [--trace] [--client=BUNDLE[,BUNDLE2]]
 *
 * --trace prints the page's own steps (WebSocket, socket.io messages, RTCPeerConnection calls
 * and events; median ms after client.start()), TTFF_RAW=1 each run's whole trace too.
 * --timeline also prints the server's side (median ms after session:start arrived: answer
 * sent, server offer sent, signalling states, ICE and DTLS connected, streaming) and the
 * page's on the same scale (client.start(), negative, and the first frame); --client
 * serves another client bundle as /client.js (a before/after comparison of client flows).
 *
 * For each run a fresh browser context loads `/?loopback=1` and we read the page's
 * `window.demo`:
 *   - signalling -> first frame: demo.firstFrameAt - demo.startedAt (startedAt is taken just
 *     before client.start(), firstFrameAt in the first requestVideoFrameCallback);
 *   - navigation -> first frame: demo.firstFrameAt (performance.now() counts from the
 *     navigation's time origin), i.e. including page load and the client bundle.
 * Warm-up runs (default 1: Chromium's first WebRTC use is slower) are shown but not counted.
 * The source is the built-in test pattern (a keyframe every second), or with --gop=N a
 * 640x360 30 fps VP8 clip with a keyframe every N seconds (made once with ffmpeg into
 * .bench-results/, played looped by a `file` source): the keyframe cache is what keeps
 * TTFF from growing with the GOP.
 *
 * Network: the app gathers and pairs only 127.0.0.1 (the options below, as in
 * test/helpers/app.ts), the page sends only 127.x candidates, every page request to a
 * non-loopback host is aborted, and Chromium runs with background networking and DNS off.
 * Needs Debian's Chromium at /usr/bin/chromium (or CHROMIUM_PATH); never downloads one.
 */
import { createRequire } from 'node:module';
import { execFileSync, fork } from 'node:child_process';
import { existsSync, accessSync, constants, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unexpected argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const RUNS = int(args.runs ?? '10', 'runs');
const WARMUP = int(args.warmup ?? '1', 'warmup');
const OFFERER = args.offerer ?? 'client';
// --flow=one-offer (default): the client library's default, the video in the first offer (one
// negotiation); data-first: its `videoInOffer: false`, the data channel alone, the server
// adding the video in a second negotiation (the library's default until 2026-12-04).
const FLOW = args.flow ?? 'one-offer';
if (!['one-offer', 'data-first'].includes(FLOW)) usage('--flow must be one-offer or data-first');
const GOP_S = args.gop === undefined ? undefined : int(args.gop, 'gop');
if (GOP_S === 0) usage('--gop must be at least 1 (seconds)');
if (!['client', 'server'].includes(OFFERER)) usage('--offerer must be client or server');
// --timeline: the server's side of each run (ms from session:start's arrival), median of the runs.
const TIMELINE = args.timeline === 'true';
// --trace: the page's own steps (WebSocket, socket.io messages, RTCPeerConnection calls and
// states), median ms after client.start(), recorded by wrappers the page gets before its scripts.
const TRACE = args.trace === 'true';
// --client=PATH[,PATH2]: serve this client bundle as /client.js instead of
// dist/public/client.js (e.g. one built from an earlier commit); with two, runs alternate
// between them (so that the machine's load drifts over both alike) and each gets a summary.
const CLIENT_PATHS = args.client ? args.client.split(',') : [];
const CLIENT_BUNDLES = CLIENT_PATHS.map((f) => readFileSync(f, 'utf8'));
let currentBundle;
const RUN_TIMEOUT_MS = 20_000;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Keep in sync with test/helpers/browser.ts.
const CHROMIUM_ARGS = [
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
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

function usage(msg) {
  console.error(`ttff: ${msg}\nusage: node bench/ttff.mjs [--runs=10] [--warmup=1] [--offerer=client|server] [--gop=SECONDS] [--flow=one-offer|data-first] [--timeline] [--trace] [--client=BUNDLE[,BUNDLE2]]`);
  process.exit(2);
}
function int(v, name) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || (name === 'runs' && n < 1)) usage(`--${name} must be a whole number`);
  return n;
}

for (const f of ['dist/app.module.js', 'dist/public/client.js']) {
  if (!existsSync(join(ROOT, f))) {
    console.error(`ttff: ${f} is missing; run \`npm run build\` first (or \`npm run bench:ttff\`).`);
    process.exit(2);
  }
}
try {
  accessSync(CHROMIUM_PATH, constants.X_OK);
} catch {
  console.error(`ttff: no Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH; browsers are not downloaded).`);
  process.exit(2);
}

/** A looped clip with a keyframe every GOP_S seconds (made once). */
function gopClip() {
  const dir = join(ROOT, '.bench-results');
  const path = join(dir, `ttff-640x360-g${GOP_S}s.ivf`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  console.log(`ttff: generating a clip with a keyframe every ${GOP_S} s (ffmpeg, once)`);
  execFileSync(
    process.env.FFMPEG ?? 'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-t', String(Math.max(20, 2 * GOP_S)), '-an', '-c:v', 'libvpx', '-b:v', '600k', '-g', String(30 * GOP_S),
      '-keyint_min', String(30 * GOP_S), '-auto-alt-ref', '0', '-deadline', 'good', '-cpu-used', '4', '-f', 'ivf', tmp],
    { stdio: 'inherit', timeout: 300_000 },
  );
  renameSync(tmp, path);
  return path;
}

const { chromium } = require('playwright-core');

let server;
let browser;
let exitCode = 0;
let stopping = false;

async function shutdown() {
  if (stopping) return;
  stopping = true;
  await browser?.close().catch(() => undefined);
  if (server) {
    // Let the server notice the closed sockets, then stop it.
    await waitFor(async () => (await server.sessions()).count === 0, 5_000).catch(() => undefined);
    await server.stop();
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    console.error(`\nttff: ${sig}, stopping`);
    exitCode = 130;
    void shutdown().finally(() => process.exit(exitCode));
  });
}

try {
  server = await startServer(GOP_S ? gopClip() : undefined, TIMELINE);
  const url = `http://127.0.0.1:${server.port}/?loopback=1${OFFERER === 'server' ? '&offerer=server' : ''}${FLOW === 'data-first' ? '&flow=data-first' : ''}`;
  const timelines = TIMELINE ? server.timelines : undefined;

  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  console.log(`ttff: ${browser.version()} -> ${url}`);
  console.log(
    `ttff: ${WARMUP} warm-up + ${RUNS} measured runs, ${OFFERER} offers, fresh context per run, ` +
      `${GOP_S ? `a keyframe every ${GOP_S} s` : 'the test pattern (a keyframe every 1 s)'}\n`,
  );

  const header = ['run', 'signalling->frame', 'navigation->frame', 'navigation->signalling', 'size'];
  const widths = [8, 18, 18, 23, 9];
  const row = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  console.log(row(header));
  console.log(row(widths.map((w) => '-'.repeat(w))));

  const results = [];
  const stages = [];
  const traces = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const warm = i < WARMUP;
    timelines?.splice(0);
    const variant = CLIENT_BUNDLES.length ? i % CLIENT_BUNDLES.length : 0;
    currentBundle = CLIENT_BUNDLES[variant];
    const r = await measure(browser, url, server);
    r.variant = variant;
    if (!warm) results.push(r);
    if (!warm && r.trace) traces.push(r.trace);
    if (!warm && r.trace && process.env.TTFF_RAW) console.log(r.trace.map(([k, t]) => `${t.toFixed(1)} ${k}`).join('\n'));
    if (!warm && timelines?.[0]) {
      const t = timelines[0];
      // The page's side on the same scale: client.start() before session:start arrived, its first frame after.
      t['client.start()'] = r.startedAtEpoch - t.requestedAtEpoch;
      t['first frame'] = r.firstFrameAtEpoch - t.requestedAtEpoch;
      delete t.requestedAtEpoch;
      stages.push(t);
    }
    console.log(
      row([
        warm ? `warm-up` : String(i - WARMUP + 1),
        ms(r.signallingToFrame),
        ms(r.navigationToFrame),
        ms(r.navigationToSignalling),
        `${r.width}x${r.height}`,
      ]),
    );
  }

  console.log(row(widths.map((w) => '-'.repeat(w))));
  for (const [name, fn] of [
    ['median', median],
    ['p90', p90],
    ['min', (a) => Math.min(...a)],
    ['max', (a) => Math.max(...a)],
  ]) {
    console.log(
      row([
        name,
        ms(fn(results.map((r) => r.signallingToFrame))),
        ms(fn(results.map((r) => r.navigationToFrame))),
        ms(fn(results.map((r) => r.navigationToSignalling))),
        '',
      ]),
    );
  }
  if (TIMELINE && stages.length) {
    const keys = [...new Set(stages.flatMap((t) => Object.keys(t)))];
    const cols = keys.map((k) => [k, median(stages.filter((t) => k in t).map((t) => t[k]))]).sort((a, b) => a[1] - b[1]);
    if (process.env.TTFF_RAW) for (const t of stages) console.log(JSON.stringify(t));
    console.log(`\ntimeline, median ms after session:start arrived at the server: ${cols.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  }
  if (TRACE && traces.length) {
    // First occurrence of each step per run; the median over the runs that had it.
    const firsts = traces.map((t) => {
      const m = new Map();
      for (const [k, v] of t) if (!m.has(k)) m.set(k, v);
      return m;
    });
    const keys = [...new Set(firsts.flatMap((m) => [...m.keys()]))];
    const cols = keys.map((k) => [k, median(firsts.filter((m) => m.has(k)).map((m) => m.get(k)))]).sort((a, b) => a[1] - b[1]);
    console.log(`\npage trace, median ms after client.start():`);
    for (const [k, v] of cols) console.log(`  ${v.toFixed(1).padStart(7)}  ${k}`);
  }
  if (CLIENT_BUNDLES.length > 1) {
    for (const [v, path] of CLIENT_PATHS.entries()) {
      const mine = results.filter((r) => r.variant === v).map((r) => r.signallingToFrame);
      console.log(`TTFF with ${path} (${mine.length} runs): median ${ms(median(mine))}, p90 ${ms(p90(mine))}`);
    }
  }
  const m = median(results.map((r) => r.signallingToFrame));
  const q = p90(results.map((r) => r.signallingToFrame));
  console.log(`\nTTFF (signalling start -> first decoded frame) of ${RUNS}: median ${ms(m)}, p90 ${ms(q)}`);
} catch (err) {
  console.error('ttff: failed:', err?.stack ?? err);
  exitCode = 1;
} finally {
  await shutdown();
}
// werift can keep timers alive after close (e.g. DTLS retransmissions of an aborted
// handshake); everything we started is closed, so do not wait for them.
process.exit(exitCode);

/** One page load in a fresh context; resolves with the page's timings. */
async function measure(browser, url, server) {
  const context = await browser.newContext();
  try {
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (currentBundle && /^127\./.test(u.hostname) && u.pathname === '/client.js') {
        return route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: currentBundle });
      }
      return /^127\./.test(u.hostname) ? route.continue() : route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    if (TRACE) await page.addInitScript(tracePage);
    await page.goto(url);
    const handle = await page.waitForFunction(
      () => {
        const d = window.demo;
        if (d?.error) return { error: `${d.error.code}: ${d.error.message}` };
        const v = document.querySelector('video');
        if (d?.firstFrameAt == null || !v?.videoWidth) return false;
        return {
          startedAt: d.startedAt,
          firstFrameAt: d.firstFrameAt,
          timeOrigin: performance.timeOrigin,
          width: v.videoWidth,
          height: v.videoHeight,
          trace: window.__trace,
        };
      },
      undefined,
      { timeout: RUN_TIMEOUT_MS, polling: 'raf' },
    );
    const v = await handle.jsonValue();
    if (v.error) throw new Error(`the page reported ${v.error}`);
    // Let the handshake settle before tearing down (see shutdown()).
    await waitFor(async () => !(await server.sessions()).connecting, 5_000).catch(() => undefined);
    return {
      signallingToFrame: v.firstFrameAt - v.startedAt,
      navigationToFrame: v.firstFrameAt,
      navigationToSignalling: v.startedAt,
      // Epoch ms (the page's and this process's clocks are the same machine's).
      startedAtEpoch: v.timeOrigin + v.startedAt,
      firstFrameAtEpoch: v.timeOrigin + v.firstFrameAt,
      width: v.width,
      height: v.height,
      trace: v.trace?.map(([k, t]) => [k, t - v.startedAt]),
    };
  } finally {
    await context.close().catch(() => undefined);
    // The tab's socket is gone: wait for its session to close so runs do not overlap.
    await waitFor(async () => (await server.sessions()).count === 0, 10_000).catch(async () => {
      console.error(`ttff: warning: ${(await server.sessions()).count} session(s) still open after the run`);
    });
  }
}

/** Runs in the page before its scripts (--trace): wraps WebSocket and RTCPeerConnection to time each step. */
function tracePage() {
  const trace = (window.__trace = []);
  const mark = (k) => trace.push([k, performance.now()]);
  const event = (data) => {
    if (typeof data !== 'string') return 'binary';
    const m = /^(\d+)(\["([^"]+)")?/.exec(data);
    return m ? (m[3] ?? `type ${m[1].slice(0, 2)}`) : data.slice(0, 10);
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      mark('ws: constructed');
      this.addEventListener('open', () => mark('ws: open'));
      this.addEventListener('message', (e) => mark(`ws <- ${event(e.data)}`));
    }
    send(data) {
      mark(`ws -> ${event(data)}`);
      return super.send(data);
    }
  };
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...a) {
      mark('pc: new');
      super(...a);
      mark('pc: constructed');
      this.addEventListener('icecandidate', (e) => mark(e.candidate ? 'pc: first candidate' : 'pc: gathering complete'));
      this.addEventListener('iceconnectionstatechange', () => mark(`pc: ice ${this.iceConnectionState}`));
      this.addEventListener('connectionstatechange', () => mark(`pc: ${this.connectionState}`));
      this.addEventListener('track', () => mark('pc: track'));
    }
  };
  for (const name of ['createOffer', 'createAnswer', 'setLocalDescription', 'setRemoteDescription', 'addIceCandidate']) {
    const f = PC.prototype[name];
    window.RTCPeerConnection.prototype[name] = async function (...a) {
      const n = (this.__n ??= {});
      n[name] = (n[name] ?? 0) + 1;
      const tag = `${name} #${n[name]}${name.endsWith('Description') && a[0]?.type ? ` (${a[0].type})` : ''}`;
      mark(`pc: ${tag} called`);
      const r = await f.apply(this, a);
      mark(`pc: ${tag} done`);
      return r;
    };
  }
}

/** The service in a process of its own (bench/ttff-server.mjs), as deployed. */
async function startServer(clip, timeline) {
  const args = [ROOT, ...(clip ? [clip] : []), ...(timeline ? ['--timeline'] : [])];
  const child = fork(join(ROOT, 'bench/ttff-server.mjs'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const timelines = [];
  let onSessions;
  const ready = new Promise((ok, fail) => {
    child.once('exit', (c) => fail(new Error(`the server exited (${c})`)));
    child.on('message', (m) => {
      if (m.type === 'ready') ok(m.port);
      else if (m.type === 'sessions') onSessions?.(m);
      else if (m.type === 'timeline') timelines.push(m.timeline);
    });
  });
  const port = await ready;
  return {
    port,
    timelines,
    sessions: () =>
      new Promise((ok) => {
        onSessions = ok;
        child.send({ cmd: 'sessions' });
      }),
    async stop() {
      child.send({ cmd: 'exit' });
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5_000))]);
      child.kill('SIGKILL');
    },
  };
}

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
/** Nearest-rank 90th percentile. */
function p90(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)];
}
function ms(v) {
  return `${v.toFixed(1)} ms`;
}
async function waitFor(cond, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 20));
  }
}
