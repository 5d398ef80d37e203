#!/usr/bin/env node
/**
 * The viewer side of bench/fanout.mjs: N werift peer connections in one Node process,
 * each with its own socket.io connection to the server, counting the video RTP they
 * receive. Started by fanout.mjs with child_process.fork(); driven over the IPC channel:
 *
 *   parent -> child                         child -> parent
 *   { cmd: 'start', url, n, batch, flow,    { type: 'progress', started, receiving, failed }
 *     viewerTimeoutMs, retries }            { type: 'ready', setupMs, firstPacketMs[], failed, errors[] }
 *   { cmd: 'mark', id }                     { type: 'mark', id, cpu, rss, heapUsed, viewers[] }
 *   { cmd: 'close' }                        { type: 'closed', ms }
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
const { RTCPeerConnection, RTCSessionDescription } = require('werift');
const { io } = require('socket.io-client');

if (!process.send) {
  console.error('fanout-viewers: started by bench/fanout.mjs, not by hand');
  process.exit(2);
}
const send = (msg) => process.send(msg);
// The parent is gone (crashed or killed): do not linger.
process.on('disconnect', () => process.exit(0));

/** Same loopback-only werift options as test/helpers/werift-viewer.ts. */
function loopbackPeer() {
  return new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host.startsWith('127.'),
  });
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

  constructor(url, flow) {
    this.url = url;
    this.flow = flow;
    this.#firstPacket = new Promise((resolve) => (this.#onFirstPacket = resolve));
  }

  /** Connects, negotiates, and resolves at the first video RTP packet. */
  async start(timeoutMs) {
    this.startedAt = performance.now();
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
    const pc = loopbackPeer();
    this.pc = pc;
    socket.on('session:candidate', (e) => this.#onCandidate(e));
    socket.on('session:offer', (e) => this.#onOffer(e));
    pc.onIceCandidate.subscribe((c) => {
      const candidate = c ? c.toJSON() : null;
      if (this.sessionId) this.#sendCandidate(candidate);
      else this.#localQueue.push(candidate);
    });
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#onRtp(rtp));
    });

    const negotiated = this.flow === 'server' ? this.#startServerOffers() : this.#startDataFirst();
    await withTimeout(negotiated, timeoutMs, 'negotiation');
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

  #onRtp(rtp) {
    this.packets++;
    this.bytes += rtp.payload.length;
    const seq = rtp.header.sequenceNumber;
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
    try {
      await withTimeout(this.pc?.close() ?? Promise.resolve(), 5_000, 'pc.close()');
    } catch (e) {
      this.errors.push(e);
    }
    // The server closes every session of a socket that disconnects.
    this.socket?.disconnect();
  }
}

/** Viewers that are receiving (the ones measured). */
const viewers = [];
/** Viewers that gave up, kept until close so their sockets are released too. */
const failedViewers = [];

async function ramp({ url, n, batch, flow, viewerTimeoutMs, retries }) {
  const t0 = performance.now();
  const errors = [];
  let failed = 0;
  let started = 0;
  const startOne = async () => {
    for (let attempt = 0; ; attempt++) {
      const v = new Viewer(url, flow);
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
    errors,
    firstPacketMs: viewers.map((v) => v.firstPacketAt - v.startedAt),
    // Seconds of video the viewers received during the ramp, all together.
    viewerSeconds: viewers.reduce((sum, v) => sum + (performance.now() - v.firstPacketAt) / 1000, 0),
  });
}

function mark(id) {
  send({
    type: 'mark',
    id,
    at: performance.now(),
    cpu: process.cpuUsage(),
    rss: process.memoryUsage().rss,
    heapUsed: process.memoryUsage().heapUsed,
    viewers: viewers.map((v) => [v.packets, v.highestSeq, v.bytes]),
  });
}

async function closeAll() {
  const t0 = performance.now();
  const all = [...viewers.splice(0), ...failedViewers.splice(0)];
  // In batches, so the server's teardown is not one burst either.
  for (let i = 0; i < all.length; i += 25) await Promise.all(all.slice(i, i + 25).map((v) => v.close()));
  send({ type: 'closed', ms: performance.now() - t0 });
}

process.on('message', (msg) => {
  const fail = (e) => send({ type: 'error', message: e?.stack ?? String(e) });
  switch (msg?.cmd) {
    case 'start':
      ramp(msg).catch(fail);
      break;
    case 'mark':
      mark(msg.id);
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
