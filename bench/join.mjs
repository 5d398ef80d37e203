#!/usr/bin/env node
/**
 * Join cost: how many viewer sessions per second a server can set up and tear down, and
 * how a burst of viewers joining at once goes, for this service beside Janus's streaming
 * plugin (Debian `janus`), in the same run, on the same RTP feed, with the same viewers.
 *
 *   npm run build && node bench/join.mjs [--targets=this,werift,janus] [--before=/path/to/dist]
 *       [--setups=200] [--concurrency=8] [--burst=200] [--watchers=10] [--flow=recvonly|data-first]
 *       [--server-cpu=0] [--client-cpu=1]
 *
 * Runs as root inside a network namespace of its own (it re-executes itself under
 * `unshare -n`): loopback, plus a veth pair holding 192.0.2.1 for Janus, which gathers no
 * candidate on loopback. Nothing can leave the host.
 *
 * - Feed: ffmpeg plays a 1280x720 30 fps 1 Mbps VP8 clip (made once into .bench-results/,
 *   a keyframe every 2 s) in real time and sends the same RTP (`-c copy`, tee muxer) to
 *   every server's ingest port.
 * - Servers, one at a time: this service built in dist/ (bench/join-server.mjs, its own
 *   process); with `--before`, another build (e.g. the commit before a change, with its
 *   own node_modules) the same way; Janus 1.1 with a config of its own in a temporary
 *   directory (HTTP transport on 127.0.0.1, one RTP mountpoint, ICE on 192.0.2.1 only);
 *   with `--targets=...,werift`, werift alone (bench/join-werift-server.mjs: a bare werift
 *   answerer with this service's fixes, certificate, codecs and ICE options, signalled over
 *   IPC, no feed; always one offer; no burst): werift's own floor for a join.
 * - Viewers: werift peer connections in this process (test/helpers/werift-viewer.ts for
 *   this service: by default one offer with the recvonly video and the data channel (the
 *   server's work for the client library's `videoInOffer` offer; `--flow=data-first`: the
 *   data channel alone, the server adding the video in a second negotiation, the library's
 *   default); Janus's HTTP API for Janus: create, attach,
 *   watch, answer, start).
 * - setups: `--setups` viewers, `--concurrency` at a time, each from nothing (new socket /
 *   Janus session) to its first RTP packet, then closed. Server CPU from /proc/<pid>/stat
 *   (all threads), minus the server's idle CPU with the feed running (measured first),
 *   divided by the number of setups: CPU per setup + teardown; 1 s / that = setups per
 *   second per core.
 * - burst: `--watchers` viewers watch; then `--burst` viewers start at once. Time until all
 *   receive RTP, and what the watchers lost meanwhile (RTP sequence gaps, and frames not
 *   received complete, from the burst's start until 1 s after the last joiner's first
 *   packet).
 * - The server (every thread) is pinned to --server-cpu and this process, the load client,
 *   to --client-cpu (default 0 and 1 on 2+ cores; `none`: not pinned), with taskset.
 * The load client's (this process's) own CPU is printed beside each figure. Results also go
 * to .bench-results/join.json.
 * JOIN_PROFILE=FILE in the environment: a CPU profile of this service's server process (main
 * thread, from ready to exit), written to FILE and summarised by function on stderr.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const RESULTS = join(ROOT, '.bench-results');
const JANUS_ADDRESS = '192.0.2.1';

// --- arguments -----------------------------------------------------------------------

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unexpected argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const KNOWN = ['targets', 'before', 'setups', 'concurrency', 'burst', 'watchers', 'flow', 'warmup', 'dist', 'server-cpu', 'client-cpu'];
for (const k of Object.keys(args)) if (!KNOWN.includes(k)) usage(`unknown option --${k}`);
const TARGETS = (args.targets ?? 'this,janus').split(',');
for (const t of TARGETS) if (!['this', 'werift', 'janus'].includes(t)) usage('--targets: this, werift and/or janus');
const BEFORE = args.before ? resolve(args.before) : undefined;
const SETUPS = int(args.setups ?? '200', 'setups', 1);
const CONCURRENCY = int(args.concurrency ?? '8', 'concurrency', 1);
const BURST = int(args.burst ?? '200', 'burst', 0);
const WATCHERS = int(args.watchers ?? '10', 'watchers', 1);
const WARMUP = int(args.warmup ?? '10', 'warmup', 0);
const FLOW = args.flow ?? 'recvonly';
// The server (this service, or Janus with all its threads) and the load client (this
// process, every viewer) on cores of their own, so that neither measures the other's load.
const MULTI_CORE = (await import('node:os')).cpus().length >= 2;
const SERVER_CPU = args['server-cpu'] ?? (MULTI_CORE ? '0' : 'none');
const CLIENT_CPU = args['client-cpu'] ?? (MULTI_CORE ? '1' : 'none');
if (!['data-first', 'recvonly'].includes(FLOW)) usage('--flow must be data-first or recvonly');
const DIST = resolve(ROOT, args.dist ?? 'dist');

function usage(msg) {
  console.error(
    `join: ${msg}\nusage: node bench/join.mjs [--targets=this,janus] [--before=DIST] [--setups=200] [--concurrency=8]` +
      ' [--burst=200] [--watchers=10] [--warmup=10] [--flow=recvonly|data-first] [--dist=dist] [--server-cpu=0|none] [--client-cpu=1|none]',
  );
  process.exit(2);
}
function int(v, name, min) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be a whole number >= ${min}`);
  return n;
}

// --- helpers -------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU time (ms) a process has used, every thread, from /proc/<pid>/stat. */
function procCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime + stime
}
/** Pins a process, every thread of it, to a core (`none`: left alone). */
function pin(pid, cpu) {
  if (cpu === 'none') return;
  execFileSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
}
function selfCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
function freePort() {
  return 20_000 + Math.floor(Math.random() * 20_000);
}
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
const pct = (v) => `${v.toFixed(1)} %`;
const ms = (v) => `${v.toFixed(1)} ms`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

// --- the clip and the feed -----------------------------------------------------------

const CLIP = { width: 1280, height: 720, fps: 30, seconds: 10, kbps: 1000, gop: 60 };
// Same clip as bench/fanout.mjs (same name, same encoder settings), made once.
const CLIP_PATH = join(RESULTS, `fanout-${CLIP.width}x${CLIP.height}-${CLIP.kbps}k-g${CLIP.gop}.ivf`);

function ensureClip() {
  if (existsSync(CLIP_PATH) && statSync(CLIP_PATH).size > 0) return;
  mkdirSync(RESULTS, { recursive: true });
  const tmp = `${CLIP_PATH}.tmp-${process.pid}`;
  const b = `${CLIP.kbps}k`;
  console.log('join: generating the source clip once (ffmpeg, libvpx)');
  execFileSync(
    process.env.FFMPEG ?? 'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${CLIP.width}x${CLIP.height}:rate=${CLIP.fps}`,
      '-vf', 'noise=alls=12:allf=t', '-t', String(CLIP.seconds), '-an', '-c:v', 'libvpx', '-b:v', b, '-minrate', b, '-maxrate', b,
      '-bufsize', b, '-g', String(CLIP.gop), '-keyint_min', String(CLIP.gop), '-auto-alt-ref', '0', '-deadline', 'good',
      '-cpu-used', '4', '-threads', '2', '-f', 'ivf', tmp],
    { stdio: 'inherit', timeout: 300_000 },
  );
  renameSync(tmp, CLIP_PATH);
}

/** ffmpeg sending the clip's RTP, unchanged (`-c copy`), to every port at once. */
function startFeed(ports) {
  const outputs = ports.map((p) => `[f=rtp:payload_type=96:pkt_size=1200]rtp://127.0.0.1:${p}`).join('|');
  const ff = spawn(
    process.env.FFMPEG ?? 'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', CLIP_PATH, '-an', '-c:v', 'copy', '-map', '0:v', '-f', 'tee', outputs],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return ff;
}

// --- viewers -------------------------------------------------------------------------

require(join(ROOT, 'test/helpers/ts-register.js'));
const { WeriftViewer, loopbackPeer } = require(join(ROOT, 'test/helpers/werift-viewer.ts'));
const { RTCPeerConnection, RTCSessionDescription } = require('werift');
const { io } = require('socket.io-client');

/** Records (sequence, timestamp, marker) of every RTP packet while `recording`. */
class RtpLog {
  packets = [];
  recording = false;
  firstAt;
  onRtp = (rtp) => {
    this.firstAt ??= performance.now();
    if (this.recording) this.packets.push([rtp.header.sequenceNumber, rtp.header.timestamp, rtp.header.marker]);
  };
}

/** Sequence gaps and incomplete frames in a log (packets in arrival order). */
function lossOf(log) {
  if (log.packets.length < 2) return { expected: 0, lost: 0, frames: 0, framesLost: 0 };
  // Extend the 16-bit sequence numbers, then order by them.
  let prev = log.packets[0][0];
  let ext = prev;
  const pkts = log.packets.map(([seq, ts, marker], i) => {
    if (i > 0) {
      const d = ((seq - prev + 0x8000) & 0xffff) - 0x8000;
      ext += d;
      prev = seq;
    }
    return { seq: ext, ts, marker };
  });
  pkts.sort((a, b) => a.seq - b.seq);
  const seqs = new Set(pkts.map((p) => p.seq));
  const first = pkts[0].seq;
  const last = pkts[pkts.length - 1].seq;
  const expected = last - first + 1;
  const lost = expected - seqs.size;
  // Frames: by timestamp; complete when its packets run without a gap from the previous
  // frame's marker to its own marker. The first and last (partial) frames are left out.
  const frames = new Map();
  for (const p of pkts) {
    const f = frames.get(p.ts) ?? { min: p.seq, max: p.seq, n: 0, marker: false };
    f.min = Math.min(f.min, p.seq);
    f.max = Math.max(f.max, p.seq);
    f.n++;
    f.marker ||= p.marker;
    frames.set(p.ts, f);
  }
  const list = [...frames.values()].sort((a, b) => a.min - b.min).slice(1, -1);
  let framesLost = 0;
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    const startOk = i === 0 || seqs.has(f.min - 1);
    if (!f.marker || f.n !== f.max - f.min + 1 || !startOk) framesLost++;
  }
  // Frames missing entirely show as a jump of the timestamp (3000 per frame at 30 fps).
  const tss = [...frames.keys()];
  const span = (Math.max(...tss) - Math.min(...tss)) / (90_000 / CLIP.fps) + 1;
  const whollyLost = Math.max(0, Math.round(span) - frames.size);
  return { expected, lost, frames: list.length + whollyLost, framesLost: framesLost + whollyLost };
}

/** This service: a socket.io connection and test/helpers/werift-viewer.ts. */
class ThisViewer {
  constructor(url) {
    this.url = url;
    this.log = new RtpLog();
  }
  async start() {
    const t0 = performance.now();
    this.marks = {};
    const mark = (k) => (this.marks[k] ??= performance.now() - t0);
    this.socket = io(this.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise((ok, fail) => {
      this.socket.once('connect', ok);
      this.socket.once('connect_error', fail);
    });
    mark('socket');
    this.v = new WeriftViewer(this.socket);
    this.v.pc.iceConnectionStateChange.subscribe((s) => mark(`ice ${s}`));
    this.v.pc.connectionStateChange.subscribe((s) => mark(`pc ${s}`));
    this.socket.on('session:offer', () => mark('server offer'));
    this.v.pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(this.log.onRtp));
    if (FLOW === 'recvonly') await this.v.startWithOffer();
    else await this.v.startDataFirst();
    mark('answered');
    await this.v.waitForPackets(1, 20_000);
    mark('rtp');
  }
  async close() {
    await this.v?.close().catch(() => undefined);
    this.socket?.disconnect();
  }
}

/**
 * A viewer of werift alone (bench/join-werift-server.mjs): the same werift peer as ThisViewer's
 * (recvonly video and the data channel in one offer), the offer and answer over IPC. Done when
 * the first RTP packet has come and the data channel is open.
 */
class BareWeriftViewer {
  static seq = 0;
  constructor(server) {
    this.server = server;
    this.id = ++BareWeriftViewer.seq;
    this.log = new RtpLog();
  }
  async start() {
    const pc = (this.pc = loopbackPeer());
    const channel = pc.createDataChannel('data');
    pc.addTransceiver('video', { direction: 'recvonly' });
    const rtp = new Promise((ok) => pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((p) => (this.log.onRtp(p), ok()))));
    const open = new Promise((ok) => channel.stateChanged.subscribe((st) => st === 'open' && ok()));
    await pc.setLocalDescription(await pc.createOffer());
    const res = await this.server.offer(this.id, { type: 'offer', sdp: pc.localDescription.sdp });
    if (res.error) throw new Error(`werift could not answer: ${res.error}`);
    await pc.setRemoteDescription(res.answer);
    await Promise.all([rtp, open]);
  }
  async close() {
    this.server.close(this.id);
    await this.pc?.close().catch(() => undefined);
  }
}

/** Janus streaming plugin over its HTTP API (long-poll for the plugin's offer). */
class JanusViewer {
  constructor(base) {
    this.base = base;
    this.log = new RtpLog();
  }
  async post(path, body) {
    const res = await fetch(`${this.base}${path}`, { method: 'POST', body: JSON.stringify({ ...body, transaction: String(Math.random()) }) });
    const json = await res.json();
    if (json.janus === 'error') throw new Error(`janus: ${json.error?.reason}`);
    return json;
  }
  async start() {
    this.session = (await this.post('', { janus: 'create' })).data.id;
    this.handle = (await this.post(`/${this.session}`, { janus: 'attach', plugin: 'janus.plugin.streaming' })).data.id;
    await this.post(`/${this.session}/${this.handle}`, { janus: 'message', body: { request: 'watch', id: 1 } });
    let offer;
    while (!offer) {
      const events = await (await fetch(`${this.base}/${this.session}?maxev=10`)).json();
      for (const e of [].concat(events)) if (e.jsep?.type === 'offer') offer = e.jsep;
    }
    const pc = new RTCPeerConnection({
      iceServers: [],
      bundlePolicy: 'max-bundle',
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [JANUS_ADDRESS],
      iceInterfaceAddresses: { udp4: JANUS_ADDRESS },
      iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === JANUS_ADDRESS,
    });
    this.pc = pc;
    const first = new Promise((ok) => pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((rtp) => (this.log.onRtp(rtp), ok()))));
    await pc.setRemoteDescription(new RTCSessionDescription(offer.sdp, 'offer'));
    await pc.setLocalDescription(await pc.createAnswer()); // resolves once gathered: candidates in the SDP
    await this.post(`/${this.session}/${this.handle}`, {
      janus: 'message',
      body: { request: 'start' },
      jsep: { type: 'answer', sdp: pc.localDescription.sdp },
    });
    await withTimeout(first, 20_000, 'first RTP from Janus');
  }
  async close() {
    await this.pc?.close().catch(() => undefined);
    if (this.session) await this.post(`/${this.session}`, { janus: 'destroy' }).catch(() => undefined);
  }
}

// --- servers -------------------------------------------------------------------------

async function startThis(dist, rtpPort) {
  // JOIN_SERVER_PROFILE=<dir>: a V8 CPU profile of the server, written when it exits.
  const profile = process.env.JOIN_SERVER_PROFILE;
  const child = fork(join(ROOT, 'bench/join-server.mjs'), [dist, String(rtpPort)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profile)}`] : [],
  });
  const ready = await withTimeout(
    new Promise((ok, fail) => {
      child.on('message', (m) => m.type === 'ready' && ok(m));
      child.once('exit', (c) => fail(new Error(`server exited (${c})`)));
    }),
    30_000,
    'the server to start',
  );
  pin(child.pid, SERVER_CPU);
  const sessions = () =>
    new Promise((ok) => {
      const on = (m) => m.type === 'sessions' && (child.off('message', on), ok(m.count));
      child.on('message', on);
      child.send({ cmd: 'sessions' });
    });
  return {
    pid: child.pid,
    viewer: () => new ThisViewer(`http://127.0.0.1:${ready.port}`),
    async idle() {
      const end = Date.now() + 15_000;
      while ((await sessions()) > 0 && Date.now() < end) await sleep(50);
      await sleep(300);
    },
    async stop() {
      child.send({ cmd: 'exit' });
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5_000)]);
      child.kill('SIGKILL');
    },
  };
}

async function startBareWerift(dist) {
  const child = fork(join(ROOT, 'bench/join-werift-server.mjs'), [dist], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map();
  child.on('message', (m) => {
    const key = `${m.type}:${m.id ?? ''}`;
    waiting.get(key)?.(m);
    waiting.delete(key);
  });
  const next = (type, id = '') => new Promise((ok) => waiting.set(`${type}:${id}`, ok));
  await withTimeout(next('ready'), 30_000, 'werift alone to start');
  pin(child.pid, SERVER_CPU);
  const server = {
    pid: child.pid,
    noFeed: true,
    viewer: () => new BareWeriftViewer(server),
    offer(id, offer) {
      const answered = next('answer', id);
      child.send({ cmd: 'offer', id, offer });
      return answered;
    },
    close: (id) => child.send({ cmd: 'close', id }),
    async idle() {
      const end = Date.now() + 15_000;
      for (;;) {
        const counted = next('sessions');
        child.send({ cmd: 'sessions' });
        if ((await counted).count === 0 || Date.now() > end) break;
        await sleep(50);
      }
      await sleep(300);
    },
    async stop() {
      child.send({ cmd: 'exit' });
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5_000)]);
      child.kill('SIGKILL');
    },
  };
  return server;
}

async function startJanus(rtpPort) {
  const dir = mkdtempSync(join(tmpdir(), 'join-janus-'));
  const httpPort = freePort();
  const lib = '/usr/lib/x86_64-linux-gnu/janus';
  const only = (folder, keep) =>
    execFileSync('ls', [join(lib, folder)]).toString().split('\n').filter((f) => f.endsWith('.so') && f !== keep).join(',');
  writeFileSync(
    join(dir, 'janus.jcfg'),
    `general: { configs_folder = "${dir}" plugins_folder = "${lib}/plugins" transports_folder = "${lib}/transports"
  events_folder = "${lib}/events" loggers_folder = "${lib}/loggers" debug_level = 2 }
media: { rtp_port_range = "40000-59999" }
nat: { ice_enforce_list = "jb0" ice_ipv6 = false ignore_mdns = true }
plugins: { disable = "${only('plugins', 'libjanus_streaming.so')}" }
transports: { disable = "${only('transports', 'libjanus_http.so')}" }
events: { broadcast = false }
loggers: { disable = "${only('loggers', '')}" }
`,
  );
  writeFileSync(
    join(dir, 'janus.transport.http.jcfg'),
    `general: { json = "compact" base_path = "/janus" http = true port = ${httpPort} ip = "127.0.0.1" https = false }
admin: { admin_http = false }
`,
  );
  writeFileSync(
    join(dir, 'janus.plugin.streaming.jcfg'),
    `general: { }
feed: { type = "rtp" id = 1 description = "join bench" media = ( { type = "video" mid = "v" port = ${rtpPort} pt = 96 codec = "vp8" iface = "127.0.0.1" } ) }
`,
  );
  const janus = spawn(process.env.JANUS ?? '/usr/bin/janus', ['-F', dir, '-C', join(dir, 'janus.jcfg')], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.on('exit', () => janus.kill('SIGKILL'));
  const base = `http://127.0.0.1:${httpPort}/janus`;
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/info`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end || janus.exitCode !== null) throw new Error('Janus did not start (is Debian janus installed?)');
    await sleep(100);
  }
  pin(janus.pid, SERVER_CPU); // its threads exist by now; later ones inherit the mask
  return {
    pid: janus.pid,
    viewer: () => new JanusViewer(base),
    async idle() {
      await sleep(1000); // Janus tears down a destroyed session's PeerConnection on its own threads
    },
    async stop() {
      janus.kill('SIGTERM');
      await Promise.race([new Promise((r) => janus.once('exit', r)), sleep(5_000)]);
      janus.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- the measurements ----------------------------------------------------------------

async function idleRate(server, seconds = 3) {
  const c0 = procCpuMs(server.pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return (procCpuMs(server.pid) - c0) / (performance.now() - t0); // ms of CPU per ms
}

async function setups(server, n, concurrency, idle) {
  let next = 0;
  let failed = 0;
  let askedForKeyframe = 0;
  const firstPacketMs = [];
  const c0 = procCpuMs(server.pid);
  const s0 = selfCpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const v = server.viewer();
        const start = performance.now();
        try {
          await withTimeout(v.start(), 25_000, 'a viewer');
          firstPacketMs.push(v.log.firstAt - start);
        } catch (e) {
          failed++;
          if (failed <= 3) console.log(`  a viewer failed: ${e.message}`);
        } finally {
          if (v.v?.askedForKeyframe) askedForKeyframe++;
          await v.close();
        }
      }
    }),
  );
  const wall = performance.now() - t0;
  await server.idle();
  const wallAll = performance.now() - t0;
  const cpu = procCpuMs(server.pid) - c0 - idle * wallAll;
  const ok = n - failed;
  return {
    setups: ok,
    failed,
    wallMs: wall,
    cpuPerSetupMs: cpu / ok,
    setupsPerSecondPerCore: 1000 / (cpu / ok),
    medianJoinMs: median(firstPacketMs),
    clientCpuPerSetupMs: (selfCpuMs() - s0) / ok,
    askedForKeyframe,
  };
}

async function burst(server, n, watchers) {
  const watching = [];
  for (let i = 0; i < watchers; i++) {
    const w = server.viewer();
    await w.start();
    watching.push(w);
  }
  await sleep(1000);
  for (const w of watching) w.log.recording = true;
  const joiners = Array.from({ length: n }, () => server.viewer());
  const c0 = procCpuMs(server.pid);
  const s0 = selfCpuMs();
  const t0 = performance.now();
  const results = await Promise.allSettled(joiners.map((v) => withTimeout(v.start(), 30_000, 'a burst viewer')));
  const allMs = Math.max(0, ...joiners.filter((v) => v.log.firstAt).map((v) => v.log.firstAt - t0));
  const joined = joiners.filter((v) => v.log.firstAt).length;
  // This service's viewers whose picture began without the cached keyframe (they sent a PLI).
  const askedForKeyframe = joiners.filter((v) => v.v?.askedForKeyframe).length;
  const wall = performance.now() - t0;
  const cpuPct = (100 * (procCpuMs(server.pid) - c0)) / wall;
  const clientCpuPct = (100 * (selfCpuMs() - s0)) / wall;
  await sleep(1000);
  for (const w of watching) w.log.recording = false;
  const loss = watching.map((w) => lossOf(w.log));
  const sum = (k) => loss.reduce((a, l) => a + l[k], 0);
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
  if (process.env.JOIN_DEBUG) {
    const times = joiners.filter((v) => v.log.firstAt).map((v) => Math.round(v.log.firstAt - t0)).sort((a, b) => a - b);
    const stages = {};
    for (const v of joiners) for (const [k, t] of Object.entries(v.marks ?? {})) (stages[k] ??= []).push(t);
    console.log(`  burst stages, median ms: ${Object.entries(stages).sort((a, b) => median(a[1]) - median(b[1])).map(([k, ts]) => `${k} ${median(ts).toFixed(0)} (n=${ts.length})`).join(', ')}`);
    console.log(`  burst join times (ms): ${[0.1, 0.5, 0.9, 0.95, 1].map((q) => times[Math.min(times.length - 1, Math.floor(q * times.length))]).join(' / ')} (p10/p50/p90/p95/max)`);
    for (const [i, r] of results.entries()) {
      if (r.status !== 'rejected') continue;
      const pc = joiners[i].v?.pc ?? joiners[i].pc;
      console.log(
        `  failed: ${r.reason.message}; pc ${pc?.connectionState} ice ${pc?.iceConnectionState} signalling ${pc?.signalingState}` +
          ` dtls ${pc?.dtlsTransports?.map((t) => `${t.role}:${t.state}`).join(',')} states ${joiners[i].v?.states?.map((s) => s.state + (s.reason ? `(${s.reason})` : "")).join(",")}` +
          ` errors ${joiners[i].v?.errors?.map((e) => e.message).join(';')}`,
      );
    }
  }
  await Promise.all([...joiners, ...watching].map((v) => v.close()));
  await server.idle();
  return {
    joined,
    of: n,
    allReceivingMs: allMs,
    serverCpuPct: cpuPct,
    clientCpuPct,
    watcherPacketLossPct: (100 * sum('lost')) / Math.max(1, sum('expected')),
    watcherFrameLossPct: (100 * sum('framesLost')) / Math.max(1, sum('frames')),
    failures: [...new Set(failures)].slice(0, 3),
    askedForKeyframe,
  };
}

async function main() {
  ensureClip();
  pin(process.pid, CLIENT_CPU);
  const ports = { this: freePort(), before: freePort(), janus: freePort() };
  const feed = startFeed(Object.values(ports));
  // Also when this process dies of an uncaught error: no ffmpeg is left behind.
  process.on('exit', () => feed.kill('SIGKILL'));
  const results = {};
  const plan = [];
  if (TARGETS.includes('this')) plan.push(['this', () => startThis(DIST, ports.this)]);
  if (BEFORE) plan.push([`before (${BEFORE})`, () => startThis(BEFORE, ports.before)]);
  if (TARGETS.includes('werift')) plan.push(['werift alone', () => startBareWerift(DIST)]);
  if (TARGETS.includes('janus')) plan.push(['janus', () => startJanus(ports.janus)]);
  console.log(
    `join: ${SETUPS} setups, ${CONCURRENCY} at a time; burst of ${BURST} beside ${WATCHERS} watchers; flow ${FLOW}; ` +
      `server on CPU ${SERVER_CPU}, load client on CPU ${CLIENT_CPU}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}; ` +
      `targets: ${plan.map((p) => p[0]).join(', ')}`,
  );
  try {
    for (const [name, start] of plan) {
      console.log(`\n== ${name}`);
      const server = await start();
      try {
        await sleep(1500); // the feed reaches the new server
        if (WARMUP) await setups(server, WARMUP, Math.min(CONCURRENCY, WARMUP), 0);
        const idle = await idleRate(server);
        console.log(`  idle with the feed: ${pct(100 * idle)} of a core`);
        const s = await setups(server, SETUPS, CONCURRENCY, idle);
        console.log(
          `  setups: ${s.setups} ok, ${s.failed} failed, in ${ms(s.wallMs)}; server CPU per setup+teardown ${ms(s.cpuPerSetupMs)}` +
            ` (${s.setupsPerSecondPerCore.toFixed(0)}/s per core); median join to first RTP ${ms(s.medianJoinMs)};` +
            ` load client CPU per setup ${ms(s.clientCpuPerSetupMs)}` +
            (name === 'janus' || server.noFeed ? '' : `; ${s.askedForKeyframe} missed the cached keyframe (PLI)`),
        );
        // werift alone sends each viewer one packet, not a feed: nothing to watch in a burst.
        const b = BURST && !server.noFeed ? await burst(server, BURST, WATCHERS) : undefined;
        if (b) {
          console.log(
            `  burst: ${b.joined}/${b.of} receiving after ${ms(b.allReceivingMs)}; server ${pct(b.serverCpuPct)}, load client ${pct(b.clientCpuPct)};` +
              ` watchers lost ${pct(b.watcherPacketLossPct)} of packets, ${pct(b.watcherFrameLossPct)} of frames` +
              (name === 'janus' ? '' : `; ${b.askedForKeyframe} joiners missed the cached keyframe (PLI)`) +
              (b.failures.length ? `; failures: ${b.failures.join('; ')}` : ''),
          );
        }
        results[name] = { idleCpuPct: 100 * idle, setups: s, burst: b };
      } finally {
        await server.stop();
      }
    }
  } finally {
    feed.kill('SIGTERM');
  }
  console.log('\n| server | CPU per setup+teardown | setups/s per core | median join | burst: all receiving | watchers: frames lost |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, r] of Object.entries(results)) {
    const b = r.burst;
    console.log(
      `| ${name} | ${ms(r.setups.cpuPerSetupMs)} | ${r.setups.setupsPerSecondPerCore.toFixed(0)} | ${ms(r.setups.medianJoinMs)} | ` +
        `${b ? `${b.joined}/${b.of} in ${ms(b.allReceivingMs)}` : '-'} | ${b ? pct(b.watcherFrameLossPct) : '-'} |`,
    );
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, 'join.json'),
    JSON.stringify({ at: new Date().toISOString(), options: { SETUPS, CONCURRENCY, BURST, WATCHERS, FLOW }, results }, null, 2),
  );
  process.exit(0);
}

// --- into a network namespace of our own ---------------------------------------------

if (!process.env.JOIN_BENCH_NETNS) {
  if (!existsSync(join(DIST, 'app.module.js'))) {
    console.error(`join: ${join(DIST, 'app.module.js')} is missing; run \`npm run build\` first.`);
    process.exit(2);
  }
  const setup = [
    'ip link set lo up',
    'ip link add jb0 type veth peer name jb1',
    `ip addr add ${JANUS_ADDRESS}/24 dev jb0`,
    'ip link set jb1 up',
    'ip link set jb0 up',
    'exec "$0" "$@"',
  ].join(' && ');
  const child = spawn('unshare', ['-n', 'sh', '-c', setup, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, JOIN_BENCH_NETNS: '1' },
  });
  child.on('error', (e) => {
    console.error(`join: unshare: ${e.message} (needs root and util-linux)`);
    process.exit(2);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}
