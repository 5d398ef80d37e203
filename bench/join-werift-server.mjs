#!/usr/bin/env node
/**
 * werift alone as the server of bench/join.mjs (`--targets=werift`): one bare werift 0.25
 * answerer per offer, with none of this service around it (no socket.io, Nest, validation,
 * session bookkeeping, keyframe cache). Its CPU per setup is werift's own floor for a join;
 * this service's figure minus it is what the service adds above werift.
 *
 * Its peer connections are made by this service's own `createPeerConnection`
 * (dist/session/peer-connection.js: the werift fixes, the process's one certificate, VP8 +
 * RTX, the header extensions, the ICE options of SessionOptions with bench/main-setup.mjs's
 * loopback settings), with `a=setup:passive` when offered actpass (`preferDtlsServer`), as
 * a session holds them. Offers, answers and closes come from join.mjs over the IPC channel
 * (no trickle: werift puts its host candidate in the answer once it has set it). When a
 * connection is connected it sends the viewer one RTP packet on the video sender, and a text
 * on the data channel once it opens.
 *
 *   (forked by bench/join.mjs) node bench/join-werift-server.mjs DIST
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { LOOPBACK_SESSION } from './main-setup.mjs';

const DIST = resolve(process.argv[2] ?? 'dist');
const require = createRequire(join(DIST, '..', 'package.json'));
// The fixes first (this import applies them): before any RTCPeerConnection exists.
const { dtlsCertificates } = require(join(DIST, 'werift/index.js'));
const { createPeerConnection, preferDtlsServer } = require(join(DIST, 'session/peer-connection.js'));
const { SessionOptions } = require(join(DIST, 'session/session.options.js'));
const { RtpHeader, RtpPacket, useVP8 } = require('werift');

process.on('disconnect', () => process.exit(0));

const options = Object.assign(new SessionOptions(), LOOPBACK_SESSION);
// Made before the first offer, so that every connection has it (as a session's would).
await dtlsCertificates.renew();
const pcs = new Map();

async function answer(id, offer) {
  const pc = createPeerConnection(options, useVP8());
  pcs.set(id, pc);
  pc.onDataChannel.subscribe((ch) => ch.stateChanged.subscribe((s) => s === 'open' && ch.send('hello')));
  pc.connectionStateChange.subscribe((s) => {
    if (s !== 'connected') return;
    const video = pc.getTransceivers().find((t) => t.kind === 'video');
    video?.sender.sendRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 1, marker: true }), Buffer.alloc(1000)));
  });
  await pc.setRemoteDescription(offer);
  preferDtlsServer(pc);
  for (const t of pc.getTransceivers()) if (t.kind === 'video') t.setDirection('sendonly');
  await pc.setLocalDescription(await pc.createAnswer());
  return { type: 'answer', sdp: pc.localDescription.sdp };
}

process.on('message', async (msg) => {
  if (msg.cmd === 'offer') {
    try {
      process.send({ type: 'answer', id: msg.id, answer: await answer(msg.id, msg.offer) });
    } catch (err) {
      process.send({ type: 'answer', id: msg.id, error: err.message });
    }
  } else if (msg.cmd === 'close') {
    const pc = pcs.get(msg.id);
    pcs.delete(msg.id);
    await pc?.close().catch(() => undefined);
  } else if (msg.cmd === 'sessions') {
    process.send({ type: 'sessions', count: pcs.size });
  } else if (msg.cmd === 'exit') {
    process.exit(0);
  }
});
process.send({ type: 'ready' });
