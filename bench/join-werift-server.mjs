#!/usr/bin/env node
/**
 * werift alone as the server of bench/join.mjs (`--targets=werift`): one bare werift 0.25
 * answerer per offer, with none of this service around it (no socket.io, Nest, validation,
 * session bookkeeping, keyframe cache). Its CPU per setup is werift's own floor for a join;
 * this service's figure minus it is what the service adds above werift.
 *
 * It holds what this service's sessions hold of werift: the fixes applied (dist/werift), the
 * process's one certificate, the codecs and header extensions of src/session/peer-connection.ts
 * (VP8 + RTX; mid, abs-send-time, transport-cc), `a=setup:passive` when offered actpass, and
 * the loopback-only ICE options of bench/join-server.mjs. Offers, answers and closes come
 * from join.mjs over the IPC channel (no trickle: werift puts its host candidate in the
 * answer once it has set it). When a connection is connected it sends the viewer one RTP
 * packet on the video sender, and a text on the data channel once it opens.
 *
 *   (forked by bench/join.mjs) node bench/join-werift-server.mjs DIST
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const DIST = resolve(process.argv[2] ?? 'dist');
const require = createRequire(join(DIST, '..', 'package.json'));
// The fixes first: they must apply before any RTCPeerConnection exists.
const { dtlsCertificates } = require(join(DIST, 'werift/index.js'));
const { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, useAbsSendTime, useSdesMid, useTransportWideCC } = require('werift');

process.on('disconnect', () => process.exit(0));

const certificate = dtlsCertificates.get(24 * 3600_000) ?? (await dtlsCertificates.renew());
const pcs = new Map();
const codecs = () => ({
  audio: [],
  video: [
    new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }),
    new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 97, parameters: 'apt=96' }),
  ],
});

async function answer(id, offer) {
  const pc = new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host.startsWith('127.'),
    dtls: {},
    certificates: [certificate],
    codecs: codecs(),
    headerExtensions: { audio: [], video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()] },
  });
  pcs.set(id, pc);
  pc.onDataChannel.subscribe((ch) => ch.stateChanged.subscribe((s) => s === 'open' && ch.send('hello')));
  pc.connectionStateChange.subscribe((s) => {
    if (s !== 'connected') return;
    const video = pc.getTransceivers().find((t) => t.kind === 'video');
    video?.sender.sendRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 1, marker: true }), Buffer.alloc(1000)));
  });
  await pc.setRemoteDescription(offer);
  for (const t of pc.getTransceivers()) if (t.kind === 'video') t.setDirection('sendonly');
  const desc = await pc.createAnswer();
  for (const d of pc.dtlsTransports) if (d.role === 'auto' && d.state === 'new') d.role = 'server';
  await pc.setLocalDescription(desc);
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
