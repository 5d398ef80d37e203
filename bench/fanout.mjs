#!/usr/bin/env node
/**
 * Fan-out cost: one 1 Mbps VP8 source sent to N werift viewers that run in a separate
 * Node process (bench/fanout-viewers.mjs), loopback only.
 *
 *   npm run build && node --expose-gc bench/fanout.mjs [--n=25,50,100,200] [--window=10]
 *       [--settle=3] [--batch=10] [--flow=data-first|recvonly|server] [--dist=dist]
 *
 * This process runs the built service (dist/, the real AppModule on 127.0.0.1:0) with one
 * provider swapped: `MediaSource` is a FileSource playing a 1 Mbps VP8 IVF clip in-process,
 * looped (generated once with ffmpeg into .bench-results/; no ffmpeg runs during the
 * measurements), so the server's CPU is the fan-out and the sessions, nothing else.
 *
 * First a baseline with no viewer (the source playing) is measured. Then, for each N: fork
 * the viewer process, start N viewers in batches (each batch receiving video before the
 * next starts), let it settle, measure for --window seconds, then close every viewer and
 * check that the server is back to 0 sessions and 0 source viewers before the next N.
 * Printed per N, and written to .bench-results/fanout.json:
 *
 *   server CPU         process.cpuUsage() delta / wall time (100 % = one core)
 *   CPU/viewer         (server CPU - baseline CPU) / N
 *   us/viewer-pkt      (server CPU time - baseline) / (packets the source sent x N)
 *   RSS/viewer         (RSS - baseline RSS) / N, both after a full GC (with --expose-gc)
 *   delivery           RTP packets received by all viewers / (packets the source sent x N)
 *   viewer CPU         the viewer process's CPU over the same window
 *   machine busy       /proc/stat over the window (both processes plus anyone else)
 */
import { fork, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const RESULTS = join(ROOT, '.bench-results');

// --- arguments -----------------------------------------------------------------------

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unexpected argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const KNOWN = ['warmup', 'n', 'window', 'settle', 'batch', 'flow', 'dist', 'baseline', 'viewer-timeout', 'retries', 'json'];
for (const k of Object.keys(args)) if (!KNOWN.includes(k)) usage(`unknown option --${k}`);
const NS = (args.n ?? '25,50,100,200').split(',').map((v) => num(v, 'n', 1));
const WINDOW_S = num(args.window ?? '10', 'window', 1);
const SETTLE_S = num(args.settle ?? '3', 'settle', 0);
const BASELINE_S = num(args.baseline ?? String(WINDOW_S), 'baseline', 1);
const WARMUP = num(args.warmup ?? '10', 'warmup', 0);
const BATCH = num(args.batch ?? '10', 'batch', 1);
const VIEWER_TIMEOUT_MS = num(args['viewer-timeout'] ?? '20', 'viewer-timeout', 1) * 1000;
const RETRIES = num(args.retries ?? '1', 'retries', 0);
const FLOW = args.flow ?? 'data-first';
if (!['data-first', 'recvonly', 'server'].includes(FLOW)) usage('--flow must be data-first, recvonly or server');
const DIST = resolve(ROOT, args.dist ?? 'dist');
const JSON_OUT = resolve(ROOT, args.json ?? join(RESULTS, 'fanout.json'));

// The clip: 1 Mbps CBR VP8, a keyframe every 2 s, 10 s, looped by the source.
const CLIP = { width: 1280, height: 720, fps: 30, seconds: 10, kbps: 1000, gop: 60 };
const CLIP_PATH = join(RESULTS, `fanout-${CLIP.width}x${CLIP.height}-${CLIP.kbps}k-g${CLIP.gop}.ivf`);

function usage(msg) {
  console.error(
    `fanout: ${msg}\nusage: node --expose-gc bench/fanout.mjs [--n=25,50,100,200] [--window=10] [--settle=3]` +
      ` [--warmup=10] [--batch=10] [--flow=data-first|recvonly|server] [--dist=dist] [--viewer-timeout=20] [--retries=1]`,
  );
  process.exit(2);
}
function num(v, name, min) {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (name !== 'window' && name !== 'settle' && !Number.isInteger(n))) {
    usage(`--${name} must be a number >= ${min}`);
  }
  return n;
}

for (const f of ['app.module.js', 'session/session.service.js', 'media/media-source.js']) {
  if (!existsSync(join(DIST, f))) {
    console.error(`fanout: ${join(DIST, f)} is missing; run \`npm run build\` first (or \`npm run bench:fanout\`).`);
    process.exit(2);
  }
}
const gc = globalThis.gc;
if (!gc) console.warn('fanout: run node with --expose-gc for steadier RSS figures (npm run bench:fanout does)\n');

// --- the source clip -----------------------------------------------------------------

async function ensureClip() {
  if (existsSync(CLIP_PATH) && statSync(CLIP_PATH).size > 0) return;
  mkdirSync(RESULTS, { recursive: true });
  const tmp = `${CLIP_PATH}.tmp-${process.pid}`;
  const b = `${CLIP.kbps}k`;
  const ffArgs = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${CLIP.width}x${CLIP.height}:rate=${CLIP.fps}`,
    // Temporal noise so the encoder has something to spend 1 Mbps on (testsrc2 alone undershoots).
    '-vf', 'noise=alls=12:allf=t',
    '-t', String(CLIP.seconds), '-an',
    '-c:v', 'libvpx', '-b:v', b, '-minrate', b, '-maxrate', b, '-bufsize', b,
    '-g', String(CLIP.gop), '-keyint_min', String(CLIP.gop), '-auto-alt-ref', '0',
    '-deadline', 'good', '-cpu-used', '4', '-threads', '2',
    '-f', 'ivf', tmp,
  ];
  console.log(`fanout: generating the source clip once: ffmpeg ${ffArgs.join(' ')}`);
  await new Promise((resolvePromise, reject) => {
    const p = spawn(process.env.FFMPEG ?? 'ffmpeg', ffArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('error', (e) => (clearTimeout(timer), reject(new Error(`ffmpeg: ${e.message} (install Debian's ffmpeg)`))));
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else reject(new Error(`ffmpeg failed (${signal ?? `code ${code}`}): ${stderr.trim().slice(-500)}`));
    });
  }).catch((e) => {
    rmSync(tmp, { force: true });
    throw e;
  });
  renameSync(tmp, CLIP_PATH);
}

// --- the application -----------------------------------------------------------------

require('reflect-metadata');
const { Test } = require('@nestjs/testing');
const { MediaSource } = require(join(DIST, 'media/media-source.js'));
const { SessionService } = require(join(DIST, 'session/session.service.js'));
const appModule = require(join(DIST, 'app.module.js'));
const { FileSource } = require(join(DIST, 'media/sources/file.source.js'));

/** FileSource that counts what it publishes (once; the fan-out is N times this). */
class CountingFileSource extends FileSource {
  published = 0;
  publishedBytes = 0;
  publish(packet, keyframeStart) {
    this.published++;
    this.publishedBytes += packet.payload.length;
    super.publish(packet, keyframeStart);
  }
}

const counters = (s) => ({ published: s.published, publishedBytes: s.publishedBytes });

const SESSION_OPTIONS = {
  announcedAddresses: ['127.0.0.1'],
  bindAddress: '127.0.0.1',
  remoteAddressFilter: (a) => a.startsWith('127.'),
  maxSessionsPerClient: 1000,
  // Every viewer comes from 127.0.0.1: the per-address limits would refuse the load.
  limits: { maxSocketsPerAddress: 0, maxSessionsInProgressPerAddress: 0, eventsPerSecond: 0 },
};

/**
 * The root module: `AppModule.forRoot({ session })` (the standalone service). Should the
 * build no longer have it, `StreamingModule.forRoot({ ...session, sources: [source] })`.
 */
function rootModule(source) {
  const root = appModule.AppModule ?? Object.values(appModule).find((v) => typeof v?.forRoot === 'function');
  if (root?.forRoot) return root.forRoot({ session: SESSION_OPTIONS });
  const streamingPath = join(DIST, 'streaming.module.js');
  const streaming = existsSync(streamingPath) ? require(streamingPath).StreamingModule : undefined;
  if (streaming?.forRoot) return streaming.forRoot({ ...SESSION_OPTIONS, sources: [source] });
  throw new Error(`${join(DIST, 'app.module.js')} exports no module with forRoot()`);
}

async function startApp(source) {
  // The real application with one provider swapped, the way docs/architecture.md
  // describes (NestFactory itself cannot override a provider of an imported module).
  const moduleRef = await Test.createTestingModule({ imports: [rootModule(source)] })
    .overrideProvider(MediaSource)
    .useValue(source)
    .compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  return { app, url: `http://127.0.0.1:${port}`, sessions: app.get(SessionService) };
}

// --- measurement helpers -------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitUntil(what, cond, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Whole-machine CPU counters (jiffies) from /proc/stat; undefined off Linux. */
function machineCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { total: f.reduce((a, b) => a + b, 0), idle };
  } catch {
    return undefined;
  }
}

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

/**
 * A snapshot of the server process. At the start of a window, a full GC runs first (so it
 * is not in the window); at the end, the counters are read first and the GC runs after,
 * before the memory figures (so RSS and heap are measured without garbage either way).
 */
function collect(edge = 'start', beforeGc = () => undefined) {
  if (edge === 'start') gc?.();
  const snap = {
    at: performance.now(),
    cpu: process.cpuUsage(),
    elu: performance.eventLoopUtilization(),
    machine: machineCpu(),
  };
  snap.extra = beforeGc();
  if (edge === 'end') gc?.();
  snap.mem = process.memoryUsage();
  return snap;
}

/** Server-side figures between two snapshots. */
function serverDelta(a, b, source0, source1) {
  const wallMs = b.at - a.at;
  const cpuUs = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
  const m =
    a.machine && b.machine
      ? 100 * (1 - (b.machine.idle - a.machine.idle) / (b.machine.total - a.machine.total))
      : undefined;
  return {
    wallMs,
    cpuUs,
    cpuPct: (100 * cpuUs) / (wallMs * 1000),
    userPct: (100 * (b.cpu.user - a.cpu.user)) / (wallMs * 1000),
    rssMB: b.mem.rss / 2 ** 20,
    heapUsedMB: b.mem.heapUsed / 2 ** 20,
    externalMB: b.mem.external / 2 ** 20,
    elu: performance.eventLoopUtilization(b.elu, a.elu).utilization,
    // Whole machine, all cores: 100 % = every core busy.
    machineBusyPct: m,
    packets: source1.published - source0.published,
    kbps: ((source1.publishedBytes - source0.publishedBytes) * 8) / wallMs,
  };
}

// --- the viewer process --------------------------------------------------------------

class ViewerProcess {
  constructor() {
    this.child = fork(join(ROOT, 'bench/fanout-viewers.mjs'), [], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    });
    this.waiters = [];
    this.progress = undefined;
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
    this.child.on('message', (msg) => {
      if (msg.type === 'progress') {
        this.progress = msg;
        const text = `  ramp: ${msg.receiving} receiving, ${msg.failed} failed`;
        if (process.stdout.isTTY) process.stdout.write(`\r${text}`);
        else if (msg.receiving % 50 === 0 || msg.failed) console.log(text);
      }
      for (const w of [...this.waiters]) if (w.match(msg)) w.resolve(msg);
    });
    this.child.once('exit', (code, signal) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`viewer process exited (${signal ?? code})`));
    });
  }

  /** The next message that matches, within timeoutMs. */
  next(match, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const w = {
        match: (m) => m.type === 'error' || match(m),
        resolve: (m) => {
          done();
          if (m.type === 'error') reject(new Error(`viewer process: ${m.message}`));
          else resolve(m);
        },
        reject: (e) => (done(), reject(e)),
      };
      const timer = setTimeout(() => w.reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== w);
      };
      this.waiters.push(w);
    });
  }

  async request(msg, match, timeoutMs, what) {
    const reply = this.next(match, timeoutMs, what);
    this.child.send(msg);
    return reply;
  }

  /** Asks it to exit; kills it when it does not. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      this.child.send({ cmd: 'exit' });
    } catch {
      // IPC already closed
    }
    const exited = await Promise.race([this.exited.then(() => true), sleep(5_000).then(() => false)]);
    if (!exited) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

// --- one run -------------------------------------------------------------------------

async function run(n, ctx, { warmup = false } = {}) {
  const { app, url, sessions, source } = ctx;
  // The warm-up run measures against a zero baseline; its figures are not used.
  const baseline = ctx.baseline ?? { cpuPct: 0, rssMB: 0, heapUsedMB: 0 };
  console.log(`\n${warmup ? 'warm-up' : `N = ${n}`}: starting ${n} viewers in batches of ${BATCH} (${FLOW} flow)`);
  const viewers = new ViewerProcess();
  ctx.viewers = viewers;
  try {
    await viewers.next((m) => m.type === 'hello', 10_000, 'the viewer process');
    const before = collect();
    const s0 = counters(source);
    // Generous: about 25 viewers' setups per second when all goes well, plus timeouts.
    const rampTimeout = 60_000 + Math.ceil(n / BATCH) * (VIEWER_TIMEOUT_MS * (RETRIES + 1) + 2_000);
    viewers.child.send({ cmd: 'start', url, n, batch: BATCH, flow: FLOW, viewerTimeoutMs: VIEWER_TIMEOUT_MS, retries: RETRIES });
    const ready = await viewers.next((m) => m.type === 'ready', rampTimeout, `${n} viewers to start`);
    const afterRamp = collect('end');
    const ramp = serverDelta(before, afterRamp, s0, source);
    if (process.stdout.isTTY) process.stdout.write('\n');
    const live = sessions.list().filter((s) => s.state === 'streaming').length;
    console.log(
      `  ${ready.receiving}/${n} receiving after ${(ready.setupMs / 1000).toFixed(1)} s ` +
        `(${ready.failed} failed attempts); server: ${sessions.count} sessions, ${live} streaming, ` +
        `${source.viewers} source viewers`,
    );
    if (source.viewers !== sessions.count) {
      throw new Error(
        `${sessions.count} sessions but ${source.viewers} viewers of the bench's source: ` +
          'the MediaSource override did not reach the sessions',
      );
    }
    for (const e of ready.errors) console.log(`  viewer error: ${e}`);
    if (ready.receiving === 0) throw new Error('no viewer is receiving');

    await sleep((warmup ? 1 : SETTLE_S) * 1000);
    // Each edge of the window: a full GC first (outside the window), then the server's
    // counters and the request to the viewer process in the same tick, so both count the
    // same packets (up to those in flight, which cancel out between the two edges).
    const a = collect('start');
    const src0 = counters(source);
    const m0 = await viewers.request({ cmd: 'mark', id: 0 }, (m) => m.type === 'mark' && m.id === 0, 10_000, 'mark 0');
    eld.reset();
    await sleep((warmup ? 2 : WINDOW_S) * 1000);
    let mark1;
    const b = collect('end', () => {
      mark1 = viewers.request({ cmd: 'mark', id: 1 }, (m) => m.type === 'mark' && m.id === 1, 10_000, 'mark 1');
      return counters(source);
    });
    const src1 = b.extra;
    const m1 = await mark1;
    const d = serverDelta(a, b, src0, src1);
    const lagP99 = eld.percentile(99) / 1e6;

    // Viewers: packets received in the window vs packets sent, in total and per viewer.
    const k = Math.min(m0.viewers.length, m1.viewers.length);
    let received = 0;
    let bytes = 0;
    const perViewer = [];
    for (let i = 0; i < k; i++) {
      const [p0, h0, b0] = m0.viewers[i];
      const [p1, h1, b1] = m1.viewers[i];
      received += p1 - p0;
      bytes += b1 - b0;
      perViewer.push(d.packets ? (p1 - p0) / d.packets : 0);
      void h0, h1;
    }
    // Sequence-number view (independent of the IPC skew between the two processes).
    let expectedBySeq = 0;
    for (let i = 0; i < k; i++) expectedBySeq += m1.viewers[i][1] - m0.viewers[i][1];
    perViewer.sort((x, y) => x - y);
    const viewerWallMs = m1.at - m0.at;
    const viewerCpuUs = m1.cpu.user - m0.cpu.user + (m1.cpu.system - m0.cpu.system);

    const extraCpuUs = d.cpuUs - baseline.cpuPct * 10 * d.wallMs; // pct -> us: pct/100 * wallMs*1000
    const result = {
      n,
      receiving: ready.receiving,
      failedAttempts: ready.failed,
      setupS: ready.setupMs / 1000,
      firstPacketMs: { median: median(ready.firstPacketMs), p95: pct(ready.firstPacketMs, 95), max: Math.max(...ready.firstPacketMs) },
      // Server CPU of the ramp minus the baseline and minus the fan-out to the viewers
      // already receiving during the ramp (their viewer-seconds at the window's cost).
      setupServerCpuMsPerViewer:
        (ramp.cpuUs -
          baseline.cpuPct * 10 * ramp.wallMs -
          ((d.cpuPct - baseline.cpuPct) / k) * 10 * ready.viewerSeconds * 1000) /
        1000 /
        ready.receiving,
      windowS: d.wallMs / 1000,
      sourcePps: (d.packets * 1000) / d.wallMs,
      sourceKbps: d.kbps,
      serverCpuPct: d.cpuPct,
      serverUserPct: d.userPct,
      cpuPctPerViewer: (d.cpuPct - baseline.cpuPct) / k,
      usPerViewerPacket: extraCpuUs / (d.packets * k),
      viewersPerCore: (100 * k) / (d.cpuPct - baseline.cpuPct),
      serverEventLoopUtilization: d.elu,
      serverEventLoopLagP99Ms: lagP99,
      rssMB: d.rssMB,
      rssMBPerViewer: (d.rssMB - baseline.rssMB) / k,
      heapUsedMBPerViewer: (d.heapUsedMB - baseline.heapUsedMB) / k,
      deliveryRatio: received / (d.packets * k),
      deliveryRatioBySeq: expectedBySeq ? received / expectedBySeq : undefined,
      worstViewerDelivery: perViewer[0],
      viewersBelow99Pct: perViewer.filter((r) => r < 0.99).length,
      receivedKbpsPerViewer: (bytes * 8) / viewerWallMs / k,
      viewerProcessCpuPct: (100 * viewerCpuUs) / (viewerWallMs * 1000),
      viewerProcessRssMB: m1.rss / 2 ** 20,
      machineBusyPct: d.machineBusyPct,
      otherLoadPct:
        d.machineBusyPct === undefined
          ? undefined
          : d.machineBusyPct - (d.cpuPct + (100 * viewerCpuUs) / (viewerWallMs * 1000)) / cpus().length,
      loadavg: loadavg(),
    };
    console.log(
      `  window ${result.windowS.toFixed(1)} s: source ${result.sourcePps.toFixed(0)} pkt/s ${result.sourceKbps.toFixed(0)} kbit/s; ` +
        `server CPU ${result.serverCpuPct.toFixed(1)} % (ELU ${(d.elu * 100).toFixed(0)} %, lag p99 ${lagP99.toFixed(1)} ms); ` +
        `viewers' CPU ${result.viewerProcessCpuPct.toFixed(1)} %; delivery ${(100 * result.deliveryRatio).toFixed(2)} %`,
    );

    // Teardown: every viewer closes, the server must be back to 0 sessions.
    const closed = await viewers.request({ cmd: 'close' }, (m) => m.type === 'closed', 60_000, 'the viewers to close');
    await waitUntil('0 sessions on the server', () => sessions.count === 0 && source.viewers === 0, 30_000);
    result.teardownS = closed.ms / 1000;
    console.log(`  closed in ${(closed.ms / 1000).toFixed(1)} s; server back to 0 sessions and 0 source viewers`);
    return result;
  } finally {
    await viewers.stop();
    ctx.viewers = undefined;
  }
}

// --- main ----------------------------------------------------------------------------

const ctx = {};
let exitCode = 0;
let stopping = false;

async function shutdown() {
  if (stopping) return;
  stopping = true;
  await ctx.viewers?.stop().catch(() => ctx.viewers?.child.kill('SIGKILL'));
  if (ctx.app) {
    await waitUntil('sessions to close', () => ctx.sessions.count === 0, 5_000).catch(() => undefined);
    await ctx.app.close().catch((e) => console.error('fanout: closing the app:', e.message));
  }
}
process.on('exit', () => {
  // Last resort: never leave the viewer process behind.
  if (ctx.viewers && ctx.viewers.child.exitCode === null) ctx.viewers.child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    console.error(`\nfanout: ${sig}, stopping`);
    exitCode = 130;
    void shutdown().finally(() => process.exit(exitCode));
  });
}

const results = [];
let baseline;
try {
  await ensureClip();
  const source = new CountingFileSource({ id: 'bench', path: CLIP_PATH, loop: true });
  Object.assign(ctx, await startApp(source), { source });
  const info = source.info();
  if (info.state !== 'live') throw new Error(`the source is ${info.state}, not live`);
  console.log(
    `fanout: server ${ctx.url} (pid ${process.pid}), source ${CLIP_PATH.replace(ROOT + '/', '')} ` +
      `(${info.codec}, looped in-process), ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}`,
  );
  console.log(`fanout: load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // Warm-up (not counted): the first sessions load and compile werift's, socket.io's and
  // the app's code paths, which would otherwise count as memory and CPU of the first N.
  if (WARMUP > 0) {
    console.log(`fanout: warm-up with ${WARMUP} viewers (not counted)`);
    await run(WARMUP, ctx, { warmup: true });
  }

  // Baseline: no viewer, the source playing.
  await sleep(2_000);
  const a = collect('start');
  const s0 = counters(source);
  await sleep(BASELINE_S * 1000);
  const b = collect('end', () => counters(source));
  baseline = serverDelta(a, b, s0, b.extra);
  console.log(
    `fanout: baseline (0 viewers, ${BASELINE_S} s): server CPU ${baseline.cpuPct.toFixed(2)} %, RSS ${baseline.rssMB.toFixed(1)} MB, ` +
      `source ${((baseline.packets * 1000) / baseline.wallMs).toFixed(1)} pkt/s ${baseline.kbps.toFixed(0)} kbit/s, ` +
      `machine busy ${baseline.machineBusyPct?.toFixed(1)} %`,
  );
  ctx.baseline = baseline;

  for (const n of NS) {
    try {
      results.push(await run(n, ctx));
    } catch (err) {
      console.error(`\nfanout: N = ${n} failed: ${err.message}`);
      results.push({ n, error: err.message });
      exitCode = 1;
      // Leave the server clean for the next N, or stop here.
      const clean = await waitUntil('0 sessions', () => ctx.sessions.count === 0, 30_000).then(
        () => true,
        () => false,
      );
      if (!clean) {
        console.error(`fanout: ${ctx.sessions.count} sessions still open; stopping`);
        break;
      }
    }
    // Post-teardown RSS: whether memory goes back (a leak would show here).
    const after = collect();
    results[results.length - 1].rssAfterTeardownMB = after.mem.rss / 2 ** 20;
    results[results.length - 1].heapUsedAfterTeardownMB = after.mem.heapUsed / 2 ** 20;
    await sleep(2_000);
  }

  printTable(results, baseline);
  mkdirSync(dirname(JSON_OUT), { recursive: true });
  writeFileSync(
    JSON_OUT,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim(),
        clip: { ...CLIP, path: CLIP_PATH.replace(ROOT + '/', '') },
        options: { warmup: WARMUP, window: WINDOW_S, settle: SETTLE_S, batch: BATCH, flow: FLOW, viewerTimeoutMs: VIEWER_TIMEOUT_MS },
        baseline,
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nfanout: results written to ${JSON_OUT.replace(ROOT + '/', '')}`);
} catch (err) {
  console.error('fanout: failed:', err?.stack ?? err);
  exitCode = 1;
} finally {
  await shutdown();
}
// werift can keep timers alive after close (DTLS retransmissions); everything we started
// is closed, so do not wait for them.
process.exit(exitCode);

function printTable(rows, base) {
  const cols = [
    ['N', (r) => r.n],
    ['recv', (r) => r.receiving],
    ['setup', (r) => `${r.setupS.toFixed(1)} s`],
    ['src pkt/s', (r) => r.sourcePps.toFixed(0)],
    ['srv CPU', (r) => `${r.serverCpuPct.toFixed(1)} %`],
    ['CPU/viewer', (r) => `${r.cpuPctPerViewer.toFixed(3)} %`],
    ['us/viewer-pkt', (r) => r.usPerViewerPacket.toFixed(1)],
    ['RSS/viewer', (r) => `${r.rssMBPerViewer.toFixed(2)} MB`],
    ['delivery', (r) => `${(100 * r.deliveryRatio).toFixed(2)} %`],
    ['seq loss', (r) => (r.deliveryRatioBySeq === undefined ? '-' : `${(100 * (1 - r.deliveryRatioBySeq)).toFixed(2)} %`)],
    ['viewer-proc CPU', (r) => `${r.viewerProcessCpuPct.toFixed(1)} %`],
    ['machine busy', (r) => (r.machineBusyPct === undefined ? '-' : `${r.machineBusyPct.toFixed(0)} %`)],
    ['others', (r) => (r.otherLoadPct === undefined ? '-' : `${Math.max(0, r.otherLoadPct).toFixed(0)} %`)],
  ];
  const cells = rows.map((r) => (r.error ? [String(r.n), `failed: ${r.error}`] : cols.map(([, f]) => String(f(r)))));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.filter((c) => c.length > 2).map((c) => c[i].length)));
  const line = (c) => c.map((v, i) => (i < widths.length && c.length > 2 ? v.padStart(widths[i]) : v)).join('  ');
  console.log(
    `\nBaseline (0 viewers): server CPU ${base.cpuPct.toFixed(2)} %, RSS ${base.rssMB.toFixed(1)} MB. ` +
      `CPU % is of one core; the machine has ${cpus().length}.`,
  );
  console.log(line(cols.map(([h]) => h)));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) console.log(line(c));
  console.log(
    `\ndelivery = RTP packets received by all viewers / (packets the source sent x N), in the same window ` +
      `(+/- the packets in flight at its two edges); seq loss = gaps in each viewer's sequence numbers. ` +
      `machine busy and others (the part not ours) are of all ${cpus().length} cores.`,
  );
  console.log(
    `The viewer process runs on the same ${cpus().length} cores as the server: when server CPU + viewer-proc CPU ` +
      `nears ${cpus().length * 100} %, they compete and the figures are limits of the machine, not of the server alone.`,
  );
}

function median(a) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
function pct(a, p) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
