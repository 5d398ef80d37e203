#!/usr/bin/env node
/**
 * The viewer side of bench/fanout.mjs: N werift peer connections in one Node process,
 * each with its own socket.io connection to the server, counting the video RTP they
 * receive. Started by fanout.mjs with child_process.fork(); driven over the IPC channel:
 *
 *   parent -> child                         child -> parent
 *   { cmd: 'start', url, n, batch, flow,    { type: 'progress', started, receiving, failed }
 *     viewerTimeoutMs, retries, light,      { type: 'ready', setupMs, firstPacketMs[], failed, errors[] }
 *     fullEvery, target, prefix, rxBin }
 *   { cmd: 'mark', id }                     { type: 'mark', id, cpu, rxCpu, rxErrors, rss, heapUsed, viewers[] }
 *   { cmd: 'feed', port, packets[] }        (RTP to a local UDP port: the Janus mountpoint)
 *   { cmd: 'close' }                        { type: 'closed', ms, rxOpen }
 *
 * Light viewers (`light`): werift sets up ICE, DTLS and SRTP and keeps ICE consent; then
 * every SRTP packet is counted from its clear RTP header and not decrypted, and the viewer
 * sends a receiver report every second itself. With `rxBin` (bench/native/rtp-counter.c, built
 * by fanout.mjs) light viewers' sockets are read by that program instead of Node's dgram
 * (which costs about 14 us per datagram): it counts the RTP the same way and hands the rest
 * back here for werift; `cpu` in the marks then includes its CPU. One viewer in `fullEvery` stays a full werift
 * receiver (decrypts and authenticates every packet, NACKs, sends werift's RTCP), so the
 * stream's integrity is checked on a sample. `target: 'janus'` signals through Janus's HTTP
 * API (streaming plugin, mountpoint 1) instead of our socket.io protocol.
 *
 * Viewers start in batches of `batch`; a batch must be receiving video before the next one
 * starts (werift handshakes stall when many run at once). Every ICE candidate is on
 * 127.0.0.1. Not meant to be run by hand. Exits when the parent goes away.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
// The viewers' werift gets the service's werift fixes (no public STUN server, DTLS on node:crypto).
require(join(ROOT, 'dist/werift/index.js'));
const {
  RTCPeerConnection,
  RTCSessionDescription,
  RtcpRrPacket,
  RtcpReceiverInfo,
} = require('werift');
const { createSocket } = require('node:dgram');
const { io } = require('socket.io-client');
const { RtpCounter } = await import('./native/rtp-counter.mjs');

if (!process.send) {
  console.error('fanout-viewers: started by bench/fanout.mjs, not by hand');
  process.exit(2);
}
const send = (msg) => process.send(msg);
// The parent is gone (crashed or killed): do not linger.
process.on('disconnect', () => process.exit(0));
// One viewer's werift glitch must not end the run for all (seen: werift's SCTP
// `dataChannelFlush` reading an undefined stream id as a connection comes up); counted.
let uncaught = 0;
const uncaughtSamples = [];
process.on('uncaughtException', (e) => {
  uncaught++;
  if (uncaughtSamples.length < 3) uncaughtSamples.push(String(e?.stack ?? e).split('\n').slice(0, 3).join(' | '));
});

/**
 * Same loopback-only werift options as test/helpers/werift-viewer.ts. For Janus (which does
 * not gather on loopback) the viewers run in the bench's private network namespace and use
 * its test address instead (`prefix` 192.0.2.).
 */
function loopbackPeer(prefix = '127.', address = '127.0.0.1') {
  return new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: [address],
    iceInterfaceAddresses: { udp4: address },
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host.startsWith(prefix),
  });
}

/** Frames whose every packet arrived lag this many packets behind the newest before they count. */
const FRAME_LAG = 256;
const RING = 1024;

/**
 * Complete frames from RTP headers alone: a frame is the packets after one marker up to the
 * next; it is complete when no sequence number in it is missing. Judged FRAME_LAG packets
 * late, so a NACK-repaired packet (full viewers) still counts. A lost marker packet merges
 * two frames into one incomplete one (conservative).
 */
class FrameCounter {
  complete = 0;
  #seen = new Float64Array(RING).fill(-1);
  #marker = new Uint8Array(RING);
  #highest = -1;
  #next = -1;
  #ok = false;

  add(seq, marker) {
    let ext;
    if (this.#highest < 0) {
      ext = seq;
      this.#highest = ext;
      this.#next = ext;
      this.#ok = false; // the first frame may have started before we joined
    } else {
      const diff = ((seq - (this.#highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
      ext = this.#highest + diff;
      if (ext > this.#highest) this.#highest = ext;
    }
    if (ext < this.#next) return; // too late to count
    this.#seen[ext % RING] = ext;
    this.#marker[ext % RING] = marker ? 1 : 0;
    while (this.#next <= this.#highest - FRAME_LAG) {
      const i = this.#next % RING;
      if (this.#seen[i] !== this.#next) this.#ok = false;
      else if (this.#marker[i]) {
        if (this.#ok) this.complete++;
        this.#ok = true;
      }
      this.#next++;
    }
  }
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

async function ok(socket, event, payload, timeoutMs = 10_000) {
  const res = await socket.timeout(timeoutMs).emitWithAck(event, payload);
  if (!res?.ok) throw new Error(`${event} failed: ${res?.error?.code} ${res?.error?.message}`);
  return res;
}

/**
 * One viewer, following the flow of test/helpers/werift-viewer.ts: events that overtake
 * the start ack are held until the session id is known, candidates wait for the remote
 * description, and signalling steps run one at a time.
 */
class Viewer {
  sessionId = '';
  packets = 0;
  bytes = 0;
  /** Highest extended RTP sequence number seen (-1: none yet). */
  highestSeq = -1;
  startedAt = 0;
  firstPacketAt = 0;
  closed = false;
  errors = [];
  #chain = Promise.resolve();
  #early = [];
  #localQueue = [];
  #remoteQueue = [];
  #remoteSet = false;
  #firstPacket;
  #onFirstPacket;

  frames = new FrameCounter();
  /** Light-path receiver-report state. */
  mediaSsrc = 0;
  #rrBase = -1;
  #dtls;
  /** Its socket's id in the native receive path (undefined: Node reads it). */
  rxK = undefined;
  /** While the program is taking the socket (close waits: the fd number must stay its). */
  #rxTaking;

  constructor(url, flow, { light = false, target = 'ours', prefix = '127.', address = '127.0.0.1' } = {}) {
    this.url = url;
    this.flow = flow;
    this.light = light;
    this.target = target;
    this.prefix = prefix;
    this.address = address;
    this.#firstPacket = new Promise((resolve) => (this.#onFirstPacket = resolve));
  }

  /** Connects, negotiates, and resolves at the first video RTP packet. */
  async start(timeoutMs) {
    this.startedAt = performance.now();
    if (this.target === 'janus') return this.#startJanus(timeoutMs);
    const socket = io(this.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    this.socket = socket;
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      }),
      timeoutMs,
      'socket.io connect',
    );
    const pc = this.#peer();
    socket.on('session:candidate', (e) => this.#onCandidate(e));
    socket.on('session:offer', (e) => this.#onOffer(e));
    pc.onIceCandidate.subscribe((c) => {
      const candidate = c ? c.toJSON() : null;
      if (this.sessionId) this.#sendCandidate(candidate);
      else this.#localQueue.push(candidate);
    });

    const negotiated = this.flow === 'server' ? this.#startServerOffers() : this.#startDataFirst();
    await withTimeout(negotiated, timeoutMs, 'negotiation');
    const left = Math.max(1, timeoutMs - (performance.now() - this.startedAt));
    await withTimeout(this.#firstPacket, left, 'the first video packet');
  }

  /** The peer connection, counting RTP the full way (decrypted) or the light way. */
  #peer() {
    const pc = loopbackPeer(this.prefix, this.address);
    this.pc = pc;
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#onRtp(rtp.header.sequenceNumber, rtp.header.marker, rtp.payload.length));
    });
    if (this.light) {
      pc.connectionStateChange.subscribe((state) => {
        if (state === 'connected') this.#goLight();
      });
    }
    return pc;
  }

  /**
   * From now on, SRTP packets are counted from their clear headers and not decrypted. They
   * are taken off the ICE socket before werift sees them (werift's chain per datagram, ICE
   * statistics, demux, an SRTP context and an exception to drop it, cost the viewer process
   * as much CPU as the server's send, so that above a few hundred viewers the load client
   * starved); STUN (consent), DTLS and SRTCP still go to werift's listener.
   */
  #goLight() {
    for (const t of this.pc.dtlsTransports) {
      const socket = t.iceTransport?.connection?.nominated?.protocol?.transport?.socket;
      if (!socket || socket.lightViewer) continue;
      const werift = socket.listeners('message');
      socket.removeAllListeners('message');
      socket.lightViewer = true;
      const toWerift = (buf, rinfo) => {
        for (const l of werift) l.call(socket, buf, rinfo);
      };
      const js = () =>
        socket.on('message', (buf, rinfo) => {
          // RTP: version 2 (first byte 128-191), not RTCP (payload types 192-223 with the marker bit).
          const b0 = buf[0];
          if (b0 >= 128 && b0 <= 191 && buf.length >= 12 && !(buf[1] >= 192 && buf[1] <= 223)) {
            this.mediaSsrc ||= buf.readUInt32BE(8);
            this.#onRtp(buf.readUInt16BE(2), (buf[1] & 0x80) !== 0, buf.length - 12);
            return;
          }
          toWerift(buf, rinfo);
        });
      this.#dtls = t;
      if (!rtpCounter) {
        js();
        continue;
      }
      // The program counts (the same demux rule, the same counters); Node no longer reads.
      this.#rxTaking = rtpCounter
        .add(socket, {
          onFirst: (seq, ssrc, length) => this.#onNativeFirst(seq, ssrc, length),
          onDatagram: (buf, rinfo) => {
            if (!this.closed) toWerift(buf, rinfo);
          },
        })
        .then(
          (k) => {
            this.rxK = k;
            rxViewers.set(k, this);
            // Closed while the program was taking it: it must let go too.
            if (this.closed) this.#dropNative();
          },
          (e) => {
            // It could not take the fd: Node reads again (add() restarted it), counted as today.
            rxFallbacks++;
            if (rxFallbackSamples.length < 3) rxFallbackSamples.push(e.message);
            js();
          },
        );
    }
  }

  /** The native path's first RTP packet on this socket; the rest come with rtpCounter.stats(). */
  #onNativeFirst(seq, ssrc, length) {
    if (this.highestSeq >= 0) return;
    this.mediaSsrc ||= ssrc;
    this.packets = 1;
    this.bytes = length - 12;
    this.highestSeq = seq;
    this.firstPacketAt = performance.now();
    this.#onFirstPacket();
  }

  #dropNative() {
    if (this.rxK === undefined) return;
    rtpCounter.drop(this.rxK);
    rxViewers.delete(this.rxK);
    this.rxK = undefined;
  }

  /** The native path's counters: [k, packets, highest seq, bytes, complete frames, ssrc]. */
  applyNative(e) {
    if (e[2] < 0) return;
    this.packets = e[1];
    this.highestSeq = e[2];
    this.bytes = e[3];
    this.frames.complete = e[4];
    this.mediaSsrc ||= e[5];
  }

  /** A receiver report (RFC 3550) from the light counters; werift encrypts it (SRTCP). */
  sendReceiverReport() {
    if (!this.#dtls || !this.mediaSsrc || this.closed || this.highestSeq < 0) return;
    if (this.#rrBase < 0) this.#rrBase = this.highestSeq - this.packets + 1;
    const expected = this.highestSeq - this.#rrBase + 1;
    const lost = Math.max(0, expected - this.packets);
    const rr = new RtcpRrPacket({
      ssrc: 1,
      reports: [
        new RtcpReceiverInfo({
          ssrc: this.mediaSsrc,
          fractionLost: 0,
          packetsLost: lost,
          highestSequence: this.highestSeq >>> 0,
          jitter: 0,
          lsr: 0,
          dlsr: 0,
        }),
      ],
    });
    this.#dtls.sendRtcp([rr]).catch(() => undefined);
  }

  /** Janus's streaming plugin: create a session, attach, watch mountpoint 1, answer, start. */
  async #startJanus(timeoutMs) {
    const api = this.url;
    const post = async (path, body) => {
      const res = await fetch(api + path, {
        method: 'POST',
        body: JSON.stringify({ transaction: Math.random().toString(36).slice(2), ...body }),
      });
      const json = await res.json();
      if (json.janus === 'error') throw new Error(`janus: ${json.error?.code} ${json.error?.reason}`);
      return json;
    };
    const work = (async () => {
      const session = await post('', { janus: 'create' });
      this.janusSession = session.data.id;
      const handle = await post(`/${this.janusSession}`, { janus: 'attach', plugin: 'janus.plugin.streaming' });
      this.janusHandle = handle.data.id;
      await post(`/${this.janusSession}/${this.janusHandle}`, { janus: 'message', body: { request: 'watch', id: 1 } });
      let offer;
      while (!offer) {
        const events = await (await fetch(`${api}/${this.janusSession}?maxev=5`)).json();
        for (const e of Array.isArray(events) ? events : [events]) if (e.jsep?.type === 'offer') offer = e.jsep;
      }
      const pc = this.#peer();
      await pc.setRemoteDescription(new RTCSessionDescription(offer.sdp, 'offer'));
      const answer = await pc.createAnswer();
      // Resolves when gathering is over: the answer then carries our candidates.
      await pc.setLocalDescription(answer);
      await post(`/${this.janusSession}/${this.janusHandle}`, {
        janus: 'message',
        body: { request: 'start' },
        jsep: { type: 'answer', sdp: pc.localDescription.sdp },
      });
    })();
    await withTimeout(work, timeoutMs, 'janus negotiation');
    const left = Math.max(1, timeoutMs - (performance.now() - this.startedAt));
    await withTimeout(this.#firstPacket, left, 'the first video packet');
  }

  /**
   * The browser client library's flow: offer only a data channel; the server adds the video.
   * With flow `recvonly` the offer also has a recvonly video m-line (the aiortc example's flow).
   */
  #startDataFirst() {
    return this.#serial(async () => {
      if (this.flow === 'recvonly') this.pc.addTransceiver('video', { direction: 'recvonly' });
      this.pc.createDataChannel('data');
      const offer = await this.pc.createOffer();
      // werift resolves setLocalDescription only when gathering ends: do not wait for it.
      void this.pc.setLocalDescription(offer).catch((e) => this.errors.push(e));
      const res = await ok(this.socket, 'session:start', { offer: { type: 'offer', sdp: offer.sdp } });
      this.#setSessionId(res.sessionId);
      await this.#applyRemote(res.answer.sdp, 'answer');
    });
  }

  /** The server offers (data channel), we answer; its next offer adds the video. */
  async #startServerOffers() {
    const res = await ok(this.socket, 'session:start', {});
    this.#setSessionId(res.sessionId);
    await this.#answer(res.offer.sdp);
  }

  #answer(sdp) {
    return this.#serial(async () => {
      await this.#applyRemote(sdp, 'offer');
      const answer = await this.pc.createAnswer();
      void this.pc.setLocalDescription(answer).catch((e) => this.errors.push(e));
      await withTimeout(
        new Promise((resolve) => {
          const check = () => (this.pc.signalingState === 'stable' ? (clearInterval(iv), resolve()) : undefined);
          const iv = setInterval(check, 10);
          check();
        }),
        5_000,
        'stable signalling state',
      );
      await ok(this.socket, 'session:answer', { sessionId: this.sessionId, answer: { type: 'answer', sdp: answer.sdp } });
    });
  }

  #onOffer(e) {
    if (!this.sessionId) return void this.#early.push(() => this.#onOffer(e));
    if (e.sessionId !== this.sessionId) return;
    this.#answer(e.offer.sdp).catch((err) => this.errors.push(err));
  }

  #onCandidate(e) {
    if (!this.sessionId) return void this.#early.push(() => this.#onCandidate(e));
    if (e.sessionId !== this.sessionId) return;
    if (this.#remoteSet) this.#addRemote(e.candidate);
    else this.#remoteQueue.push(e.candidate);
  }

  #onRtp(seq, marker, payloadLength) {
    this.packets++;
    this.bytes += payloadLength;
    this.frames.add(seq, marker);
    if (this.highestSeq < 0) {
      this.highestSeq = seq;
      this.firstPacketAt = performance.now();
      this.#onFirstPacket();
    } else {
      // Extend the 16-bit sequence number around the highest one seen.
      const diff = ((seq - (this.highestSeq & 0xffff) + 0x8000) & 0xffff) - 0x8000;
      if (diff > 0) this.highestSeq += diff;
    }
  }

  #serial(op) {
    const run = this.#chain.then(op);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #setSessionId(id) {
    this.sessionId = id;
    for (const replay of this.#early.splice(0)) replay();
    for (const c of this.#localQueue.splice(0)) this.#sendCandidate(c);
  }

  #sendCandidate(candidate) {
    if (this.closed) return;
    ok(this.socket, 'session:candidate', { sessionId: this.sessionId, candidate }).catch((e) => this.errors.push(e));
  }

  async #applyRemote(sdp, type) {
    await this.pc.setRemoteDescription(new RTCSessionDescription(sdp, type));
    this.#remoteSet = true;
    for (const c of this.#remoteQueue.splice(0)) this.#addRemote(c);
  }

  #addRemote(c) {
    const init = c ? { candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined } : null;
    this.pc.addIceCandidate(init).catch((e) => this.errors.push(e));
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    // Before werift closes the socket: the program's duplicate would keep it alive.
    await this.#rxTaking;
    this.#dropNative();
    try {
      await withTimeout(this.pc?.close() ?? Promise.resolve(), 5_000, 'pc.close()');
    } catch (e) {
      this.errors.push(e);
    }
    // The server closes every session of a socket that disconnects.
    this.socket?.disconnect();
    if (this.janusSession) {
      await fetch(`${this.url}/${this.janusSession}`, {
        method: 'POST',
        body: JSON.stringify({ janus: 'destroy', transaction: 'bye' }),
      }).catch(() => undefined);
    }
  }
}

/** Viewers that are receiving (the ones measured). */
const viewers = [];
/** Viewers that gave up, kept until close so their sockets are released too. */
const failedViewers = [];

/** The native receive path (bench/native/rtp-counter.c), one program for the process's life. */
let rtpCounter;
let rxFallbacks = 0;
const rxFallbackSamples = [];
/** Set when the program died: marks then fail, since light viewers' counts stopped. */
let rxFatal;

function startRtpCounter(bin) {
  rtpCounter ??= new RtpCounter(bin, {
    onFatal: (message) => {
      rxFatal = message;
      send({ type: 'error', message: `native receive path: ${message}` });
    },
  });
}

/** Fresh counters of the sockets the program reads, into their viewers. */
async function refreshNative() {
  const st = await rtpCounter.stats();
  for (const e of st.socks) rxViewers.get(e[0])?.applyNative(e);
  return st;
}
/** Viewers by native socket id. */
const rxViewers = new Map();

async function ramp({ url, n, batch, flow, viewerTimeoutMs, retries, light = false, fullEvery = 10, target = 'ours', prefix, address, rxBin }) {
  if (light && rxBin) startRtpCounter(rxBin);
  const t0 = performance.now();
  const errors = [];
  let failed = 0;
  let started = 0;
  const startOne = async () => {
    // Every fullEvery-th viewer decrypts (the first one included).
    const full = !light || started % fullEvery === 0;
    for (let attempt = 0; ; attempt++) {
      const v = new Viewer(url, flow, { light: !full, target, prefix, address });
      started++;
      try {
        await v.start(viewerTimeoutMs);
        viewers.push(v);
        return;
      } catch (e) {
        failed++;
        failedViewers.push(v);
        if (errors.length < 10) errors.push(e.message);
        await v.close();
        if (attempt >= retries) return;
      }
    }
  };
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, startOne));
    send({ type: 'progress', started, receiving: viewers.length, failed });
  }
  send({
    type: 'ready',
    setupMs: performance.now() - t0,
    receiving: viewers.length,
    failed,
    errors: [
      ...errors,
      ...(uncaught ? [`${uncaught} uncaught exceptions in the viewer process, e.g. ${uncaughtSamples.join(' || ')}`] : []),
      ...(rxFallbacks ? [`${rxFallbacks} light viewers read by Node (the native path could not take their socket), e.g. ${rxFallbackSamples.join(' || ')}`] : []),
      ...(rtpCounter?.errors ? [`native receive path: ${rtpCounter.errors} errors, e.g. ${rtpCounter.errorSamples.join(' || ')}`] : []),
    ],
    firstPacketMs: viewers.map((v) => v.firstPacketAt - v.startedAt),
    // Seconds of video the viewers received during the ramp, all together.
    viewerSeconds: viewers.reduce((sum, v) => sum + (performance.now() - v.firstPacketAt) / 1000, 0),
  });
}

async function mark(id) {
  if (rxFatal) throw new Error(`native receive path: ${rxFatal}`);
  // The program's counters first, so that the viewers' figures are as of now.
  const rx = rtpCounter?.open ? await refreshNative() : undefined;
  const cpu = process.cpuUsage();
  if (rx) {
    cpu.user += rx.user;
    cpu.system += rx.system;
  }
  send({
    type: 'mark',
    id,
    at: performance.now(),
    // This process and the native receive path's (its own CPU also as rxCpu).
    cpu,
    rxCpu: rx ? { user: rx.user, system: rx.system } : undefined,
    rxErrors: rtpCounter?.errors ?? 0,
    rxErrorSamples: rtpCounter?.errorSamples ?? [],
    rss: process.memoryUsage().rss,
    heapUsed: process.memoryUsage().heapUsed,
    viewers: viewers.map((v) => [v.packets, v.highestSeq, v.bytes, v.frames.complete, v.light ? 1 : 0]),
  });
}

async function closeAll() {
  const t0 = performance.now();
  const all = [...viewers.splice(0), ...failedViewers.splice(0)];
  // In batches, so the server's teardown is not one burst either.
  for (let i = 0; i < all.length; i += 25) await Promise.all(all.slice(i, i + 25).map((v) => v.close()));
  // Sockets the native path still holds (each viewer's close drops its own): leaks.
  const rxOpen = rtpCounter && !rxFatal ? (await rtpCounter.stats()).open : 0;
  send({ type: 'closed', ms: performance.now() - t0, rxOpen });
}

// Light viewers' receiver reports: every second, spread over the second.
let rrTurn = 0;
setInterval(() => {
  const turn = () => {
    const list = viewers;
    const step = Math.max(1, Math.ceil(list.length / 10));
    for (let i = rrTurn * step; i < Math.min(list.length, (rrTurn + 1) * step); i++) if (list[i].light) list[i].sendReceiverReport();
    rrTurn = (rrTurn + 1) % 10;
  };
  // Reports from the native path's counters as of now.
  if (rtpCounter?.open && !rxFatal) refreshNative().then(turn, () => undefined);
  else turn();
}, 100).unref();

let feedSocket;
function feed({ port, packets }) {
  feedSocket ??= createSocket('udp4');
  for (const p of packets) feedSocket.send(Buffer.from(p), port, '127.0.0.1');
}

process.on('message', (msg) => {
  const fail = (e) => send({ type: 'error', message: e?.stack ?? String(e) });
  switch (msg?.cmd) {
    case 'start':
      ramp(msg).catch(fail);
      break;
    case 'mark':
      mark(msg.id).catch(fail);
      break;
    case 'feed':
      feed(msg);
      break;
    case 'close':
      closeAll().catch(fail);
      break;
    case 'exit':
      // werift keeps timers alive after close (DTLS retransmissions); everything is closed.
      process.exit(0);
  }
});
send({ type: 'hello', pid: process.pid });
