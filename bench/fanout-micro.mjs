#!/usr/bin/env node
/**
 * The lean send path alone, without sessions: CPU per viewer-packet of the built code's
 * `SourceTrack` -> `LeanSender` (header patch, SRTP, UDP send), for N viewers with their own
 * keys and sockets, each sending to a port of a sink that never reads (a Python process that
 * only binds them), as in ../shared notes' micro-benchmarks. werift's objects are stood in
 * for by plain objects with the fields the lean path reads (src/media/fanout/werift-internals.ts);
 * ICE, DTLS and RTCP do not run. What the full service adds on top (sessions' RTCP and STUN,
 * socket.io, the source) is what bench/fanout.mjs measures.
 *
 *   npm run build && node --expose-gc bench/fanout-micro.mjs [--n=100] [--packets=3000]
 *       [--srtp=cm|gcm] [--dist=dist] [--runs=3] [--pace=0] [--sink=drop|read] [--sink-cpu=1]
 *
 * --pace=MS waits MS milliseconds between source packets (8 = the bench feed's 120 packets/s)
 * instead of one event-loop turn, so each packet meets caches as cold as in the service.
 * --sink=read: the sink reads every datagram (as a viewer does); by default it never reads,
 * so once a socket's receive buffer is full the kernel drops what arrives early, which is
 * cheaper for the sender than a delivery and a wake-up of the reader on loopback.
 *
 * Prints process CPU (user + system, all threads) per viewer-packet, min and median of the
 * runs. Compare builds (e.g. two commits, each built into its own --dist) in one sitting.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const N = Number(args.n ?? 100);
const PACKETS = Number(args.packets ?? 3000);
const RUNS = Number(args.runs ?? 3);
const SRTP = args.srtp ?? 'cm';
const DIST = resolve(ROOT, args.dist ?? 'dist');
const PACE_MS = Number(args.pace ?? 0);
const SINK_READS = (args.sink ?? 'drop') === 'read';
const { LeanSender } = require(join(DIST, 'media/fanout/lean-sender.js'));
const { PacketHistory } = require(join(DIST, 'media/fanout/shared-packet.js'));
const { SourceTrack } = require(join(DIST, 'media/source-track.js'));
const { RtpHeader, RtpPacket, RTP_EXTENSION_URI } = require('werift');

// The sink: N UDP ports bound by a process that never reads them.
// --sink-cpu=1 pins the sink (it inherits this process's pinning otherwise).
const sinkCmd = args['sink-cpu'] ? ['taskset', ['-c', args['sink-cpu'], 'python3']] : ['python3', []];
const sink = spawn(
  sinkCmd[0],
  [...sinkCmd[1], '-c', `import socket,sys,time
s=[socket.socket(socket.AF_INET,socket.SOCK_DGRAM) for _ in range(${N})]
for x in s: x.bind(('127.0.0.1',0))
print(' '.join(str(x.getsockname()[1]) for x in s),flush=True)
if ${SINK_READS ? 'True' : 'False'}:
  import selectors,threading
  threading.Thread(target=lambda: (sys.stdin.read(), __import__('os')._exit(0)), daemon=True).start()
  sel=selectors.DefaultSelector()
  for x in s: x.setblocking(False); sel.register(x, selectors.EVENT_READ)
  while True:
    for k,_ in sel.select():
      try:
        while True: k.fileobj.recv(2048)
      except BlockingIOError: pass
sys.stdin.read()`],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const ports = await new Promise((r) => sink.stdout.once('data', (d) => r(String(d).trim().split(' ').map(Number))));

const profile = SRTP === 'gcm' ? 0x0007 : 0x0001;
const viewers = [];
for (let i = 0; i < N; i++) {
  const socket = createSocket('udp4');
  await new Promise((r) => socket.bind(0, '127.0.0.1', r));
  const pair = { remoteAddr: ['127.0.0.1', ports[i]], packetsSent: 0, bytesSent: 0, protocol: { type: 'stun', transport: { socket, closed: false } } };
  const dtls = {
    state: 'connected',
    transportSequenceNumber: 0,
    bytesSent: 0,
    packetsSent: 0,
    config: {},
    srtp: { localContext: { profile, srtpSessionKey: randomBytes(16), srtpSessionSalt: randomBytes(profile === 1 ? 14 : 12), srtpSessionAuthTag: randomBytes(20) } },
    iceTransport: { connection: { nominated: pair, canSendApplicationData: () => true, send: async () => undefined } },
  };
  const sender = {
    ssrc: 1000 + i, rtxSsrc: 5000 + i, rtxSequenceNumber: 0, mid: '0', stopped: false, codec: { payloadType: 96 },
    headerExtensions: [
      { uri: RTP_EXTENSION_URI.sdesMid, id: 1 },
      { uri: RTP_EXTENSION_URI.absSendTime, id: 2 },
      { uri: RTP_EXTENSION_URI.transportWideCC, id: 3 },
    ],
    dtlsTransport: dtls, packetCount: 0, octetCount: 0, headerBytesSent: 0, rtpTimestamp: 0, ntpTimestamp: 0n,
    retransmittedPacketsSent: 0, retransmittedBytesSent: 0,
    onGenericNack: { subscribe: () => ({ unSubscribe() {} }) },
    runRtcp: async () => undefined,
  };
  const lean = new LeanSender(sender);
  viewers.push({ socket, lean, track: new SourceTrack('micro', lean.deliver) });
}

const history = new PacketHistory(1024);
let seq = 0;
const cached = () => [];
async function run(packets) {
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  for (let k = 0; k < packets; k++) {
    seq = (seq + 1) & 0xffff;
    const p = new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: 3000 * (seq >> 2), payloadType: 100, marker: (seq & 3) === 3 }), randomBytes(1150));
    const shared = history.push(p);
    for (const v of viewers) v.track.deliver(p, cached, shared);
    await new Promise((r) => (PACE_MS > 0 ? setTimeout(r, PACE_MS) : setImmediate(r)));
  }
  const cpu = process.cpuUsage(t0);
  return { us: (cpu.user + cpu.system) / (packets * N), wallMs: performance.now() - w0 };
}
await run(300); // warm-up: JIT
const results = [];
for (let r = 0; r < RUNS; r++) {
  globalThis.gc?.();
  results.push(await run(PACKETS));
}
// A join's replay: the cached group of pictures (2 s at 1 Mbps: about 240 packets) sent at
// once to one new viewer, as MediaSource.subscribe does; CPU per viewer so served.
const gop = [];
for (let k = 0; k < 240; k++) {
  seq = (seq + 1) & 0xffff;
  const p = new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: 3000 * (seq >> 2), payloadType: 100, marker: (seq & 3) === 3 }), randomBytes(1150));
  gop.push([p, history.push(p)]);
}
const replayUs = [];
for (let r = 0; r < RUNS; r++) {
  const t0 = process.cpuUsage();
  for (const v of viewers) {
    for (const [p, shared] of gop) v.track.deliver(p, cached, shared);
    await new Promise((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(t0);
  replayUs.push((cpu.user + cpu.system) / N);
}
replayUs.sort((a, b) => a - b);
const sent = viewers.reduce((n, v) => n + v.lean.stats.sent, 0);
const us = results.map((r) => r.us).sort((a, b) => a - b);
console.log(
  `fanout-micro: ${DIST.replace(ROOT + '/', '')}, ${N} viewers, ${PACKETS} packets x ${RUNS} runs, ${SRTP}: ` +
    `${PACE_MS > 0 ? `paced ${PACE_MS} ms, ` : ''}sink ${SINK_READS ? 'reads' : 'never reads'}: ` +
    `${us[0].toFixed(2)} / ${us[Math.floor(us.length / 2)].toFixed(2)} us per viewer-packet (min / median), ` +
    `${sent} sent; a join's replay of ${gop.length} packets ${(replayUs[0] / 1000).toFixed(2)} / ` +
    `${(replayUs[Math.floor(replayUs.length / 2)] / 1000).toFixed(2)} ms CPU; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
);
for (const v of viewers) {
  v.lean.close();
  v.socket.close();
}
sink.stdin.end();
sink.kill();
