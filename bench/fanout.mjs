#!/usr/bin/env node
/**
 * Fan-out cost: one 1 Mbps VP8 source sent to N werift viewers that run in a separate
 * Node process (bench/fanout-viewers.mjs), loopback only.
 *
 *   npm run build && node --expose-gc bench/fanout.mjs [--n=25,50,100,200] [--window=10]
 *       [--settle=3] [--batch=10] [--flow=data-first|recvonly|server] [--dist=dist]
 *       [--paths=lean,werift,janus] [--viewers=light|werift] [--full-every=10]
 *       [--server-cpu=0] [--viewer-cpu=1] [--srtp=default|cm|gcm] [--profile] [--heap] [--alloc] [--workers=0,1,2] [--heap-growing=100]
 *       [--rx=native|js]
 *
 * --paths: what serves the viewers, each at every N, in this one run: `lean` (this service,
 * the default send path), `werift` (this service, sendPath 'werift'), `janus` (Janus's
 * streaming plugin, Debian package, fed the same RTP packets; see bench/fanout-janus.mjs).
 * --viewers=light (default): viewers keep ICE consent, DTLS and RTCP alive but count SRTP
 * packets from their clear headers; one in --full-every decrypts everything (werift).
 * --rx: who reads the light viewers' sockets. `native` (the default when `cc` works): a small C
 * program (bench/native/rtp-counter.c, compiled at start into .bench-results/) takes their fds
 * and reads them with epoll + recvmmsg, counting RTP as the JS path does and handing STUN,
 * DTLS and SRTCP back to werift; `js`: Node's dgram reads them, about 14 us per datagram, so
 * the viewer process, not the server, is the limit beyond about 450 viewers. Without a
 * compiler the bench says so and uses `js`. Viewer CPU figures include the program's.
 * --server-cpu / --viewer-cpu pin the server (this process, or Janus) and the viewer process
 * to those cores with taskset (default 0 and 1 when the machine has 2 or more; `none` to not pin).
 * --workers: the service with that many media workers (MEDIA_WORKERS); with several values, one
 * run per value one after the other, compared at the end (unpinned unless --server-cpu is given).
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
import { fork, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { useMainsAdapter } from './main-setup.mjs';
import { buildRtpCounter } from './native/rtp-counter.mjs';
import { heapSummary, printAllocationSummary, printHeapDiff, printSummary, startAllocationProfile, startProfile } from './fanout-profile.mjs';

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
const KNOWN = [
  'warmup', 'n', 'window', 'settle', 'batch', 'flow', 'dist', 'baseline', 'viewer-timeout', 'retries', 'json',
  'paths', 'viewers', 'full-every', 'server-cpu', 'viewer-cpu', 'srtp', 'profile', 'heap', 'alloc', 'workers', 'heap-growing', 'rx',
];
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
// --heap-growing=N: V8's heap growing percent for this in-process server, as the service's
// own entry point sets it (HEAP_GROWING_PERCENT, src/common/gc-tuning.ts); 0: V8's own.
const HEAP_GROWING = applyHeapGrowing(DIST, args['heap-growing']);
const JSON_OUT = resolve(ROOT, args.json ?? join(RESULTS, 'fanout.json'));
const PATHS = (args.paths ?? 'lean').split(',');
for (const p of PATHS) if (!['lean', 'werift', 'janus'].includes(p)) usage(`--paths: unknown ${p} (lean, werift, janus)`);
const LIGHT = (args.viewers ?? 'light') === 'light';
if (!['light', 'werift'].includes(args.viewers ?? 'light')) usage('--viewers must be light or werift');
const FULL_EVERY = num(args['full-every'] ?? '10', 'full-every', 1);
// --rx=native|js: the light viewers' receive path (bench/native/rtp-counter.c or Node's dgram).
if (args.rx !== undefined && !['native', 'js'].includes(args.rx)) usage('--rx must be native or js');
const RX = LIGHT ? buildRx(args.rx) : { rx: 'js', note: 'werift viewers (no light receive path)' };
const SRTP = args.srtp ?? 'default';
// --profile: a CPU profile of this process's main thread over each window of this service
// (not Janus's), written to .bench-results/fanout-<path>-<n>.cpuprofile and summarised.
const PROFILE = args.profile === 'true';
// --heap: heap snapshots of this process with no viewer and after each ramp of this service,
// written to .bench-results/ and compared (what each viewer holds, by constructor).
const HEAP = args.heap === 'true';
// --alloc: a sampling allocation profile over each window of this service of what outlived
// the young generation (what makes major GCs run), by allocation site.
const ALLOC = args.alloc === 'true';
if (!['default', 'cm', 'gcm'].includes(SRTP)) usage('--srtp must be default, cm or gcm');
// --workers=0,1,2: the service with that many media workers (src/workers), one run per value.
const WORKERS = args.workers === undefined ? undefined : args.workers.split(',').map((v) => num(v, 'workers', 0));
if (WORKERS && WORKERS.length > 1) compareWorkers(WORKERS);
const pinDefault = (core) => (cpus().length >= 2 ? core : 'none');
const SERVER_CPU = args['server-cpu'] ?? pinDefault('0');
const VIEWER_CPU = args['viewer-cpu'] ?? pinDefault('1');
if (PATHS.includes('janus') && FLOW !== 'data-first') usage('--flow applies to this service only; Janus offers');

// The clip: 1 Mbps CBR VP8, a keyframe every 2 s, 10 s, looped by the source.
const CLIP = { width: 1280, height: 720, fps: 30, seconds: 10, kbps: 1000, gop: 60 };
const CLIP_PATH = join(RESULTS, `fanout-${CLIP.width}x${CLIP.height}-${CLIP.kbps}k-g${CLIP.gop}.ivf`);

function usage(msg) {
  console.error(
    `fanout: ${msg}\nusage: node --expose-gc bench/fanout.mjs [--n=25,50,100,200] [--window=10] [--settle=3]` +
      ` [--warmup=10] [--batch=10] [--flow=data-first|recvonly|server] [--dist=dist] [--viewer-timeout=20] [--retries=1]` +
      ` [--paths=lean,werift,janus] [--viewers=light|werift] [--full-every=10] [--server-cpu=0|none] [--viewer-cpu=1|none]` +
      ` [--srtp=default|cm|gcm] [--profile] [--heap] [--alloc] [--workers=0,1,2] [--heap-growing=100] [--rx=native|js]`,
  );
  process.exit(2);
}
/** --rx: compiles the native receive path when asked for or by default; `js` when it cannot. */
function buildRx(want) {
  if (want === 'js') return { rx: 'js', note: 'Node dgram (--rx=js)' };
  const b = buildRtpCounter(RESULTS);
  if (b.bin) return { rx: 'native', bin: b.bin, note: `native (bench/native/rtp-counter.c, ${b.cc} -O2, epoll + recvmmsg)` };
  if (want === 'native') {
    console.error(`fanout: --rx=native: cannot build bench/native/rtp-counter.c: ${b.error}`);
    process.exit(2);
  }
  console.warn(`fanout: note: no native receive path (${b.error}); light viewers are read by Node's dgram (--rx=js)`);
  return { rx: 'js', note: `Node dgram (native unavailable: ${b.error})` };
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
const { SessionOptions } = require(join(DIST, 'session/session.options.js'));
const appModule = require(join(DIST, 'app.module.js'));
const { FileSource } = require(join(DIST, 'media/sources/file.source.js'));

/** FileSource that counts what it publishes (once; the fan-out is N times this). */
class CountingFileSource extends FileSource {
  published = 0;
  publishedBytes = 0;
  /** Frames (marker bits) published: what complete-frame delivery is measured against. */
  frames = 0;
  /** While Janus is measured: each packet is also fed to its mountpoint, as it is published. */
  tap = undefined;
  publish(packet, keyframeStart) {
    this.published++;
    this.publishedBytes += packet.payload.length;
    if (packet.header.marker) this.frames++;
    this.tap?.(packet);
    super.publish(packet, keyframeStart);
  }
}

const counters = (s) => ({ published: s.published, publishedBytes: s.publishedBytes, frames: s.frames });

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
  if (root?.forRoot) return root.forRoot({ session: { ...SESSION_OPTIONS, ...(WORKERS ? { mediaWorkers: WORKERS[0] } : {}) } });
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
  useMainsAdapter(app, DIST);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  return { app, url: `http://127.0.0.1:${port}`, sessions: app.get(SessionService), options: app.get(SessionOptions) };
}

/** What dist/main.js does before it starts (a build without gc-tuning.js: nothing). */
function applyHeapGrowing(dist, value) {
  const file = join(dist, 'common/gc-tuning.js');
  if (!existsSync(file)) return 'V8 default (the build has no gc-tuning.js)';
  const { tuneHeapGrowing, DEFAULT_HEAP_GROWING_PERCENT } = require(file);
  const percent = value === undefined ? DEFAULT_HEAP_GROWING_PERCENT : num(value, 'heap-growing', 0);
  if (percent > 0) tuneHeapGrowing(percent);
  return percent > 0 ? `${percent} %` : 'V8 default';
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
/** The lean senders' counters summed over the open sessions (the lean path's own view). */
function leanTotals(sessions) {
  const t = { sent: 0, dropped: 0, queued: 0, segmented: 0, sendErrors: 0, nacked: 0, retransmitted: 0 };
  for (const s of sessions.list()) {
    const l = s.leanStats;
    if (l) for (const k of Object.keys(t)) t[k] += l[k] ?? 0;
  }
  return t;
}

/** Datagrams dropped by full receive buffers, every UDP socket of the machine (last column). */
function udpDrops() {
  let n = 0;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 12) n += Number(cols[cols.length - 1]) || 0;
    }
  }
  return n;
}

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
function collect(edge = 'start', beforeGc = () => undefined, janus = undefined) {
  if (edge === 'start') gc?.();
  const j = janus?.usage();
  const snap = {
    at: performance.now(),
    // The server's CPU: this process, or Janus's (all its threads, from /proc).
    cpu: j ? { user: j.cpuMs * 1000, system: 0 } : process.cpuUsage(),
    elu: performance.eventLoopUtilization(),
    machine: machineCpu(),
  };
  snap.extra = beforeGc();
  if (edge === 'end') gc?.();
  snap.mem = j ? { rss: janus.usage().rssMB * 2 ** 20, heapUsed: 0, external: 0 } : process.memoryUsage();
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
    frames: source1.frames - source0.frames,
    kbps: ((source1.publishedBytes - source0.publishedBytes) * 8) / wallMs,
  };
}

// --- the viewer process --------------------------------------------------------------

class ViewerProcess {
  /** `netns`: the pid whose network namespace the viewers join (Janus's). */
  constructor({ netns } = {}) {
    // Through taskset (the viewer core) and nsenter (Janus's namespace); the IPC channel is
    // an inherited file descriptor, so it survives the exec chain.
    const wrap = [
      ...(netns ? ['/usr/bin/nsenter', '-t', String(netns), '-n'] : []),
      ...(VIEWER_CPU !== 'none' ? ['/usr/bin/taskset', '-c', VIEWER_CPU] : []),
    ];
    // FANOUT_VIEWER_PROF=DIR: a V8 CPU profile of the viewer process, written there when it exits.
    const prof = process.env.FANOUT_VIEWER_PROF ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.FANOUT_VIEWER_PROF)}`] : [];
    this.child = fork(join(ROOT, 'bench/fanout-viewers.mjs'), [], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      ...(wrap.length ? { execPath: wrap[0], execArgv: [...wrap.slice(1), process.execPath, ...prof] } : { execArgv: prof }),
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

async function run(n, ctx, { warmup = false, path = 'lean' } = {}) {
  const { app, url, sessions, source } = ctx;
  const janus = path === 'janus' ? ctx.janus : undefined;
  // The warm-up run measures against a zero baseline; its figures are not used.
  const baseline = (janus ? ctx.janusBaseline : ctx.baseline) ?? { cpuPct: 0, rssMB: 0, heapUsedMB: 0 };
  if (!janus) ctx.options.sendPath = path;
  console.log(
    `\n${warmup ? 'warm-up' : `N = ${n}`} [${path}]: starting ${n} ${LIGHT ? `light viewers (1 in ${FULL_EVERY} full, rx ${RX.rx})` : 'werift viewers'}` +
      ` in batches of ${BATCH}${janus ? '' : ` (${FLOW} flow)`}`,
  );
  const viewers = janus ? ctx.janusFeed : new ViewerProcess();
  ctx.viewers = viewers;
  try {
    if (!janus) await viewers.next((m) => m.type === 'hello', 10_000, 'the viewer process');
    const before = collect('start', undefined, janus);
    const s0 = counters(source);
    // Generous: about 25 viewers' setups per second when all goes well, plus timeouts.
    const rampTimeout = 60_000 + Math.ceil(n / BATCH) * (VIEWER_TIMEOUT_MS * (RETRIES + 1) + 2_000);
    viewers.child.send({
      cmd: 'start',
      url: janus ? janus.apiUrl : url,
      n,
      batch: BATCH,
      flow: FLOW,
      viewerTimeoutMs: VIEWER_TIMEOUT_MS,
      retries: RETRIES,
      light: LIGHT,
      rxBin: RX.bin,
      fullEvery: FULL_EVERY,
      target: janus ? 'janus' : 'ours',
      ...(janus ? { prefix: '192.0.2.', address: JANUS_VIEWER_ADDRESS } : {}),
    });
    const ready = await viewers.next((m) => m.type === 'ready', rampTimeout, `${n} viewers to start`);
    const afterRamp = collect('end', undefined, janus);
    const ramp = serverDelta(before, afterRamp, s0, source);
    if (process.stdout.isTTY) process.stdout.write('\n');
    const live = sessions.list().filter((s) => s.state === 'streaming').length;
    console.log(
      `  ${ready.receiving}/${n} receiving after ${(ready.setupMs / 1000).toFixed(1)} s ` +
        `(${ready.failed} failed attempts)` +
        (janus ? '' : `; server: ${sessions.count} sessions, ${live} streaming, ${source.viewers} source viewers`),
    );
    if (warmup && SRTP !== 'default') preferSrtp(sessions, SRTP);
    // With media workers the source has one viewer on this thread: the workers' demand on it.
    if (!janus && !WORKERS?.[0] && source.viewers !== sessions.count) {
      throw new Error(
        `${sessions.count} sessions but ${source.viewers} viewers of the bench's source: ` +
          'the MediaSource override did not reach the sessions',
      );
    }
    for (const e of ready.errors) console.log(`  viewer error: ${e}`);
    if (janus && ready.receiving === 0) console.log(`  janus log (tail):\n${janus.log().slice(-4000)}`);
    if (ready.receiving === 0) throw new Error('no viewer is receiving');

    await sleep((warmup ? 1 : SETTLE_S) * 1000);
    if (HEAP && !warmup && !janus && ctx.heapIdle) {
      const file = join(RESULTS, `fanout-${path}-${n}.heapsnapshot`);
      printHeapDiff(ctx.heapIdle, await heapSummary(file), n);
      console.log(`  heap snapshot written to ${file.replace(ROOT + '/', '')}`);
    }
    // Each edge of the window: a full GC first (outside the window), then the server's
    // counters and the request to the viewer process in the same tick, so both count the
    // same packets (up to those in flight, which cancel out between the two edges).
    const a = collect('start', undefined, janus);
    const src0 = counters(source);
    const m0 = await viewers.request({ cmd: 'mark', id: 0 }, (m) => m.type === 'mark' && m.id === 0, 30_000, 'mark 0');
    const lean0 = janus ? undefined : leanTotals(sessions);
    const drops0 = udpDrops();
    eld.reset();
    const profiler = PROFILE && !warmup && !janus ? await startProfile() : undefined;
    const allocProfiler = ALLOC && !warmup && !janus ? await startAllocationProfile() : undefined;
    await sleep((warmup ? 2 : WINDOW_S) * 1000);
    let mark1;
    const b = collect(
      'end',
      () => {
        mark1 = viewers.request({ cmd: 'mark', id: 1 }, (m) => m.type === 'mark' && m.id === 1, 30_000, 'mark 1');
        return counters(source);
      },
      janus,
    );
    const src1 = b.extra;
    const m1 = await mark1;
    const dropsInWindow = udpDrops() - drops0;
    if (lean0) {
      const l = leanTotals(sessions);
      const dl = Object.fromEntries(Object.keys(l).map((k) => [k, l[k] - (lean0[k] ?? 0)]));
      console.log(
        `  lean path in the window: sent ${dl.sent} (${dl.segmented} in segmented UDP sends), not sent (no consent/not ready) ${dl.dropped}, queued by libuv ${dl.queued}, ` +
          `send errors ${dl.sendErrors}, NACKed ${dl.nacked}, retransmitted ${dl.retransmitted}`,
      );
    }
    console.log(`  UDP receive-buffer drops on the machine in the window (/proc/net/udp, every process): ${dropsInWindow}`);
    if (allocProfiler) {
      const file = join(RESULTS, `fanout-${path}-${n}.heapprofile`);
      printAllocationSummary(await allocProfiler.stop(file));
      console.log(`  allocation profile written to ${file.replace(ROOT + '/', '')}`);
    }
    if (profiler) {
      const file = join(RESULTS, `fanout-${path}-${n}.cpuprofile`);
      printSummary(await profiler.stop(file));
      console.log(`  profile written to ${file.replace(ROOT + '/', '')} (the profiler's own cost is in the figures below)`);
    }
    const d = serverDelta(a, b, src0, src1);
    const lagP99 = eld.percentile(99) / 1e6;

    // Viewers: packets received in the window vs packets sent, in total and per viewer.
    const k = Math.min(m0.viewers.length, m1.viewers.length);
    let received = 0;
    let bytes = 0;
    let completeFrames = 0;
    const perViewer = [];
    for (let i = 0; i < k; i++) {
      const [p0, h0, b0, f0] = m0.viewers[i];
      const [p1, h1, b1, f1] = m1.viewers[i];
      received += p1 - p0;
      bytes += b1 - b0;
      completeFrames += f1 - f0;
      perViewer.push(d.packets ? (p1 - p0) / d.packets : 0);
      void h0, h1;
    }
    // Sequence-number view (independent of the IPC skew between the two processes).
    let expectedBySeq = 0;
    for (let i = 0; i < k; i++) expectedBySeq += m1.viewers[i][1] - m0.viewers[i][1];
    perViewer.sort((x, y) => x - y);
    const viewerWallMs = m1.at - m0.at;
    const viewerCpuUs = m1.cpu.user - m0.cpu.user + (m1.cpu.system - m0.cpu.system);
    const rxCpuUs = m1.rxCpu && m0.rxCpu ? m1.rxCpu.user - m0.rxCpu.user + (m1.rxCpu.system - m0.rxCpu.system) : undefined;
    const rxErrors = (m1.rxErrors ?? 0) - (m0.rxErrors ?? 0);
    if (rxErrors) console.log(`  native receive path: ${rxErrors} errors in the window, e.g. ${m1.rxErrorSamples.join(' || ')}`);

    const extraCpuUs = d.cpuUs - baseline.cpuPct * 10 * d.wallMs; // pct -> us: pct/100 * wallMs*1000
    const result = {
      path,
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
      // Complete frames (every packet of the frame arrived) / (frames published x N).
      frameDelivery: d.frames ? completeFrames / (d.frames * k) : undefined,
      deliveryRatioBySeq: expectedBySeq ? received / expectedBySeq : undefined,
      worstViewerDelivery: perViewer[0],
      viewersBelow99Pct: perViewer.filter((r) => r < 0.99).length,
      receivedKbpsPerViewer: (bytes * 8) / viewerWallMs / k,
      viewerProcessCpuPct: (100 * viewerCpuUs) / (viewerWallMs * 1000),
      viewerProcessRssMB: m1.rss / 2 ** 20,
      rx: RX.rx,
      // Of viewerProcessCpuPct, the native receive path's program.
      viewerRxCpuPct: rxCpuUs === undefined ? undefined : (100 * rxCpuUs) / (viewerWallMs * 1000),
      // Viewer-process CPU per RTP packet received (all viewers, full ones included).
      viewerUsPerPacket: received ? viewerCpuUs / received : undefined,
      rxErrors,
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
        `viewers' CPU ${result.viewerProcessCpuPct.toFixed(1)} %` +
        (result.viewerRxCpuPct === undefined ? '' : ` (native rx ${result.viewerRxCpuPct.toFixed(1)} %)`) +
        `, ${result.viewerUsPerPacket?.toFixed(2)} us/received pkt; delivery ${(100 * result.deliveryRatio).toFixed(2)} %, ` +
        `complete frames ${(100 * (result.frameDelivery ?? NaN)).toFixed(2)} %`,
    );

    // Teardown: every viewer closes, the server must be back to 0 sessions.
    const closed = await viewers.request({ cmd: 'close' }, (m) => m.type === 'closed', 60_000, 'the viewers to close');
    if (!janus) await waitUntil('0 sessions on the server', () => sessions.count === 0 && source.viewers === 0, 30_000);
    result.teardownS = closed.ms / 1000;
    console.log(`  closed in ${(closed.ms / 1000).toFixed(1)} s${janus ? '' : '; server back to 0 sessions and 0 source viewers'}`);
    if (closed.rxOpen) throw new Error(`the native receive path still holds ${closed.rxOpen} sockets after every viewer closed`);
    return result;
  } finally {
    if (!janus) await viewers.stop();
    ctx.viewers = undefined;
  }
}

/**
 * --srtp=cm|gcm: the SRTP profile this service prefers, for the sessions after the warm-up.
 * werift keeps one profile list for every DTLS transport (AEAD_AES_128_GCM first in 0.25.2)
 * and, as DTLS server, picks its first one the client offers; it is reordered in place here,
 * which is what a werift patch preferring AES_CM_128_HMAC_SHA1_80 does for good.
 */
function preferSrtp(sessions, which) {
  if (WORKERS?.[0]) {
    // The sessions' werift runs in the workers; their DTLS offers the service's default
    // order (src/werift, srtp-profile-order: AES-CM first).
    if (which !== 'cm') throw new Error('--srtp=gcm needs --workers=0 (the profile list is reordered on the main thread)');
    console.log('  SRTP profiles: the workers offer the service default (AES-CM first)');
    return;
  }
  const t = sessions.list()[0]?.peerConnection?.dtlsTransports?.[0];
  if (!t?.srtpProfiles) throw new Error('--srtp: no session to reach werift profile list through (use --warmup >= 1)');
  const first = which === 'cm' ? 0x0001 : 0x0007;
  t.srtpProfiles.sort((a, b) => (b === first) - (a === first));
  console.log(`  SRTP profiles now offered in this order: ${t.srtpProfiles.map((p) => `0x${p.toString(16)}`).join(', ')}`);
}

// --- Janus: its own network namespace, its own config, the same feed --------------------

/** Janus gathers no loopback candidate: it runs in a private namespace with a veth pair. */
const JANUS_ADDRESS = '192.0.2.1';
const JANUS_VIEWER_ADDRESS = '192.0.2.3';

async function startJanusSide() {
  const { startJanus } = await import('./fanout-janus.mjs');
  // A network namespace of our own (nothing in it reaches outside): lo, and a veth pair
  // with two test addresses, Janus on one end, the viewers on the other.
  const holder = spawn('/usr/bin/unshare', ['-n', '/bin/sleep', 'infinity'], { stdio: 'ignore' });
  await sleep(200);
  const ns = ['/usr/bin/nsenter', '-t', String(holder.pid), '-n'];
  const sh = (args) => {
    const r = spawnSync(ns[0], [...ns.slice(1), ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
  };
  sh(['ip', 'link', 'set', 'lo', 'up']);
  sh(['ip', 'link', 'add', 'jv0', 'type', 'veth', 'peer', 'name', 'jv1']);
  sh(['ip', 'addr', 'add', `${JANUS_ADDRESS}/24`, 'dev', 'jv0']);
  sh(['ip', 'addr', 'add', `${JANUS_VIEWER_ADDRESS}/24`, 'dev', 'jv1']);
  sh(['ip', 'link', 'set', 'jv0', 'up']);
  sh(['ip', 'link', 'set', 'jv1', 'up']);
  // libnice sends out of jv0 itself: the datagram then arrives on jv1 from an address of
  // this namespace, which Linux drops as martian unless told to accept it.
  for (const k of ['all', 'default', 'jv0', 'jv1']) {
    sh(['sysctl', '-qw', `net.ipv4.conf.${k}.accept_local=1`]);
    sh(['sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=0`]);
  }
  const janus = await startJanus({
    wrap: [...ns, ...(SERVER_CPU !== 'none' ? ['/usr/bin/taskset', '-c', SERVER_CPU] : [])],
    iceInterface: 'jv0',
  });
  janus.holder = holder;
  // One viewer process for all Janus runs: it lives in the namespace and feeds the mountpoint.
  const feed = new ViewerProcess({ netns: holder.pid });
  await feed.next((m) => m.type === 'hello', 10_000, 'the Janus viewer process');
  return { janus, feed };
}

async function stopJanusSide(ctx) {
  ctx.source.tap = undefined;
  await ctx.janusFeed?.stop().catch(() => undefined);
  await ctx.janus?.stop().catch((e) => console.error('fanout: stopping janus:', e.message));
  ctx.janus?.holder.kill('SIGKILL');
  ctx.janus = undefined;
}

// --- main ----------------------------------------------------------------------------

const ctx = {};
let exitCode = 0;
let stopping = false;

async function shutdown() {
  if (stopping) return;
  stopping = true;
  await ctx.viewers?.stop().catch(() => ctx.viewers?.child.kill('SIGKILL'));
  if (ctx.janus) await stopJanusSide(ctx);
  if (ctx.app) {
    await waitUntil('sessions to close', () => ctx.sessions.count === 0, 5_000).catch(() => undefined);
    await ctx.app.close().catch((e) => console.error('fanout: closing the app:', e.message));
  }
}
process.on('exit', () => {
  // Last resort: never leave the viewer process behind.
  if (ctx.viewers && ctx.viewers.child.exitCode === null) ctx.viewers.child.kill('SIGKILL');
  if (ctx.janusFeed && ctx.janusFeed.child.exitCode === null) ctx.janusFeed.child.kill('SIGKILL');
  ctx.janus?.holder?.kill('SIGKILL');
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
  if (SERVER_CPU !== 'none') {
    // Every thread of this process (main, libuv pool, V8 helpers) on the server core.
    const r = spawnSync('/usr/bin/taskset', ['-a', '-p', '-c', SERVER_CPU, String(process.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taskset: ${r.stderr || r.error?.message}`);
    console.log(`fanout: server pinned to CPU ${SERVER_CPU}, viewers to CPU ${VIEWER_CPU}`);
  }
  await ensureClip();
  const source = new CountingFileSource({ id: 'bench', path: CLIP_PATH, loop: true });
  Object.assign(ctx, await startApp(source), { source });
  const info = source.info();
  if (info.state !== 'live') throw new Error(`the source is ${info.state}, not live`);
  console.log(
    `fanout: server ${ctx.url} (pid ${process.pid}), source ${CLIP_PATH.replace(ROOT + '/', '')} ` +
      `(${info.codec}, looped in-process), ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, ` +
      `V8 heap growing ${HEAP_GROWING}`,
  );
  console.log(`fanout: light viewers' receive path (--rx): ${RX.note}`);
  console.log(`fanout: load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // Warm-up (not counted): the first sessions load and compile werift's, socket.io's and
  // the app's code paths, which would otherwise count as memory and CPU of the first N.
  if (WARMUP > 0 && PATHS.some((p) => p !== 'janus')) {
    console.log(`fanout: warm-up with ${WARMUP} viewers (not counted)`);
    await run(WARMUP, ctx, { warmup: true, path: PATHS.find((p) => p !== 'janus') });
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
  if (HEAP) ctx.heapIdle = await heapSummary(join(RESULTS, 'fanout-idle.heapsnapshot'));

  if (PATHS.includes('janus')) {
    const { janus, feed } = await startJanusSide();
    Object.assign(ctx, { janus, janusFeed: feed });
    // The mountpoint gets every packet the bench's source publishes, as it publishes it.
    ctx.source.tap = (packet) => feed.child.send({ cmd: 'feed', port: janus.rtpPort, packets: [packet.serialize()] });
    await sleep(2_000);
    const ja = collect('start', undefined, janus);
    const js0 = counters(source);
    await sleep(BASELINE_S * 1000);
    const jb = collect('end', () => counters(source), janus);
    ctx.janusBaseline = serverDelta(ja, jb, js0, jb.extra);
    console.log(
      `fanout: Janus ${janus.version ?? ''} (pid ${janus.pid}) baseline (0 viewers, fed): CPU ${ctx.janusBaseline.cpuPct.toFixed(2)} %, ` +
        `RSS ${ctx.janusBaseline.rssMB.toFixed(1)} MB`,
    );
  }

  const runs = NS.flatMap((n) => PATHS.map((path) => ({ n, path })));
  for (const { n, path } of runs) {
    try {
      results.push(await run(n, ctx, { path }));
    } catch (err) {
      console.error(`\nfanout: N = ${n} [${path}] failed: ${err.message}`);
      results.push({ n, path, error: err.message });
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
    // Results so far, so that an interrupted run keeps them.
    mkdirSync(dirname(JSON_OUT), { recursive: true });
    writeFileSync(`${JSON_OUT}.partial`, JSON.stringify({ baseline, janusBaseline: ctx.janusBaseline, results }, null, 2) + '\n');
    // Post-teardown RSS: whether memory goes back (a leak would show here).
    const after = collect();
    results[results.length - 1].rssAfterTeardownMB = after.mem.rss / 2 ** 20;
    results[results.length - 1].heapUsedAfterTeardownMB = after.mem.heapUsed / 2 ** 20;
    await sleep(2_000);
  }

  printTable(results, baseline, ctx.janusBaseline);
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
        options: {
          warmup: WARMUP, window: WINDOW_S, settle: SETTLE_S, batch: BATCH, flow: FLOW, viewerTimeoutMs: VIEWER_TIMEOUT_MS,
          paths: PATHS, light: LIGHT, fullEvery: FULL_EVERY, rx: RX.rx, serverCpu: SERVER_CPU, viewerCpu: VIEWER_CPU, srtp: SRTP,
        },
        baseline,
        janusBaseline: ctx.janusBaseline,
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

function printTable(rows, base, janusBase) {
  const cols = [
    ['server', (r) => (r.path === 'janus' ? 'janus' : `ours/${r.path}${WORKERS ? `/w${WORKERS[0]}` : ''}`)],
    ['N', (r) => r.n],
    ['recv', (r) => r.receiving],
    ['setup', (r) => `${r.setupS.toFixed(1)} s`],
    ['src pkt/s', (r) => r.sourcePps.toFixed(0)],
    ['srv CPU', (r) => `${r.serverCpuPct.toFixed(1)} %`],
    ['CPU/viewer', (r) => `${r.cpuPctPerViewer.toFixed(3)} %`],
    ['us/viewer-pkt', (r) => r.usPerViewerPacket.toFixed(1)],
    ['RSS/viewer', (r) => `${r.rssMBPerViewer.toFixed(2)} MB`],
    ['delivery', (r) => `${(100 * r.deliveryRatio).toFixed(2)} %`],
    ['frames ok', (r) => (r.frameDelivery === undefined ? '-' : `${(100 * r.frameDelivery).toFixed(2)} %`)],
    ['seq loss', (r) => (r.deliveryRatioBySeq === undefined ? '-' : `${(100 * (1 - r.deliveryRatioBySeq)).toFixed(2)} %`)],
    ['viewer-proc CPU', (r) => `${r.viewerProcessCpuPct.toFixed(1)} %`],
    ['machine busy', (r) => (r.machineBusyPct === undefined ? '-' : `${r.machineBusyPct.toFixed(0)} %`)],
    ['others', (r) => (r.otherLoadPct === undefined ? '-' : `${Math.max(0, r.otherLoadPct).toFixed(0)} %`)],
  ];
  const cells = rows.map((r) =>
    r.error ? [r.path === 'janus' ? 'janus' : `ours/${r.path}`, String(r.n), `failed: ${r.error}`] : cols.map(([, f]) => String(f(r))),
  );
  const full = (c) => c.length === cols.length;
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.filter(full).map((c) => c[i].length)));
  const line = (c) => c.map((v, i) => (full(c) || i < 2 ? v.padStart(widths[i]) : v)).join('  ');
  console.log(
    `\nBaseline (0 viewers): this service CPU ${base.cpuPct.toFixed(2)} %, RSS ${base.rssMB.toFixed(1)} MB` +
      (janusBase ? `; Janus CPU ${janusBase.cpuPct.toFixed(2)} %, RSS ${janusBase.rssMB.toFixed(1)} MB` : '') +
      `. CPU % is of one core; the machine has ${cpus().length}; server on CPU ${SERVER_CPU}, viewers on CPU ${VIEWER_CPU}.`,
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
    `frames ok = complete frames (no packet of the frame missing, judged ${'256'} packets late) / (frames published x N). ` +
      (LIGHT
        ? `Viewers: light (clear-header counting, read by ${RX.rx === 'native' ? 'bench/native/rtp-counter.c' : "Node's dgram"}), 1 in ${FULL_EVERY} a full werift receiver.`
        : 'Viewers: werift.'),
  );
  // Per server: the most viewers measured at >= 95 % complete frames, and what they cost.
  const summary = [];
  for (const path of PATHS) {
    // A source that plays slower than real time (a starved server) is not delivering either.
    const realTime = 0.95 * ((base.packets * 1000) / base.wallMs);
    const ok = rows.filter(
      (r) =>
        r.path === path && !r.error && (r.frameDelivery ?? 0) >= 0.95 && r.receiving >= 0.95 * r.n && r.sourcePps >= realTime,
    );
    const best = ok.sort((a, b) => b.n - a.n)[0];
    summary.push({ path, best });
  }
  console.log('\nMost viewers at >= 95 % complete frames, source in real time (>= 95 % of its baseline rate), of the N tried:');
  for (const { path, best } of summary) {
    console.log(
      `  ${(path === 'janus' ? 'janus' : `ours/${path}`).padEnd(12)} ` +
        (best
          ? `${String(best.n).padStart(5)} viewers; ${best.usPerViewerPacket.toFixed(1)} us/viewer-packet; ` +
            `${best.rssMBPerViewer.toFixed(3)} MB RSS/viewer; server CPU ${best.serverCpuPct.toFixed(0)} %`
          : 'none of the N tried'),
    );
  }
  const j = summary.find((x) => x.path === 'janus')?.best;
  for (const { path, best } of summary) {
    if (path !== 'janus' && best && j) console.log(`  ours/${path} / janus = ${(best.n / j.n).toFixed(2)}x (viewers at >= 95 %)`);
  }
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

/**
 * --workers with several values: this bench once per value, one after the other, each a child
 * process with the same options (--workers=W, its own JSON), then the figures side by side. The
 * server is not pinned to one core unless asked (--server-cpu): workers need both.
 */
function compareWorkers(values) {
  const rest = process.argv.slice(2).filter((a) => !/^--(workers|json)=/.test(a));
  const pin = args['server-cpu'] === undefined ? ['--server-cpu=none', '--viewer-cpu=none'] : [];
  const rows = [];
  for (const w of values) {
    const json = join(RESULTS, `fanout-workers-${w}.json`);
    console.log(`\nfanout: ===== media workers: ${w} =====`);
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...rest, ...pin, `--workers=${w}`, `--json=${json}`], {
      stdio: 'inherit',
    });
    if (r.status !== 0) console.error(`fanout: the run with ${w} workers failed (exit ${r.status})`);
    const out = existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) : { results: [] };
    for (const x of out.results) rows.push({ workers: w, ...x });
  }
  console.log('\nfanout: media workers compared (same options, one run after the other; CPU % of one core, all threads of the server process)');
  console.log('workers  path    N  delivery  srv CPU  us/viewer-pkt  viewer-proc CPU');
  for (const x of rows) {
    if (x.error) {
      console.log(`${String(x.workers).padStart(7)}  ${x.path.padEnd(6)} ${String(x.n).padStart(4)}  failed: ${x.error}`);
      continue;
    }
    console.log(
      `${String(x.workers).padStart(7)}  ${x.path.padEnd(6)} ${String(x.n).padStart(4)}  ${(100 * x.deliveryRatio).toFixed(1).padStart(6)} %` +
        `  ${x.serverCpuPct.toFixed(0).padStart(5)} %  ${x.usPerViewerPacket.toFixed(1).padStart(13)}  ${x.viewerProcessCpuPct.toFixed(0).padStart(13)} %`,
    );
  }
  for (const w of values) {
    const ok = rows.filter((x) => x.workers === w && !x.error && x.deliveryRatio >= 0.95).map((x) => x.n);
    console.log(`fanout: ${w} worker(s): most viewers at >= 95 % delivery: ${ok.length ? Math.max(...ok) : 'none'}`);
  }
  process.exit(0);
}
