#!/usr/bin/env node
/**
 * SRTP alone: CPU per protect call of the lean path's protectors (src/media/fanout/srtp.ts,
 * built), the JavaScript ones against the native addon (native/srtp), both profiles, as
 * LeanSender and Output call them: prepare, the header template copied to OUT_HEAD of one
 * shared output buffer, protectShared of a shared packet's payload. V viewers (each its own
 * keys and SSRC) take each source packet in turn, as the fan-out does; no socket.
 *
 *   npm run build && node bench/srtp-micro.mjs [--viewers=400] [--payload=1200] [--packets=1500]
 *       [--runs=3] [--dist=dist] [--hmac-modes=1]
 *
 * --hmac-modes=1 also times the addon's other OpenSSL HMAC APIs (0 SHA_CTX states copied by
 * value, the default; 1 HMAC_CTX re-init; 2 EVP_MD_CTX_copy_ex; 3 EVP_MAC_init), AES-CM only.
 * Prints CPU (user + system) per call, min / median of the runs, in microseconds.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const VIEWERS = Number(args.viewers ?? 400);
const PAYLOAD = Number(args.payload ?? 1200);
const PACKETS = Number(args.packets ?? 1500);
const RUNS = Number(args.runs ?? 3);
const DIST = resolve(ROOT, args.dist ?? 'dist');
const srtp = require(join(DIST, 'media/fanout/srtp.js'));
const { PacketHistory } = require(join(DIST, 'media/fanout/shared-packet.js'));
const { buildHeader } = require(join(DIST, 'media/fanout/header-template.js'));
const { RtpHeader, RtpPacket } = require('werift');
const { OUT_HEAD, SRTP_AES128_CM_HMAC_SHA1_80: CM, SRTP_AEAD_AES_128_GCM: GCM } = srtp;
const addon = srtp.loadNativeSrtp();
if (!addon) console.log(`native SRTP not available: ${srtp.nativeSrtpLoadError()}`);

const header = buildHeader(1, 96, [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1 }, { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 2 }, { uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', id: 3 }], '0').header;
const out = Buffer.allocUnsafeSlow(OUT_HEAD + header.length + PAYLOAD + 64);
const out32 = new Int32Array(out.buffer, out.byteOffset, out.length >> 2);
const history = new PacketHistory(64);
const packets = Array.from({ length: 16 }, (_, i) =>
  history.push(new RtpPacket(new RtpHeader({ sequenceNumber: i, timestamp: i * 3000, payloadType: 96 }), randomBytes(PAYLOAD))),
);

/** A viewer's protector: `make(keys)` for the JS or native one, or a raw addon handle with an HMAC mode. */
function viewers(profile, make) {
  return Array.from({ length: VIEWERS }, (_, v) => {
    const keys = { profile, key: randomBytes(16), salt: randomBytes(profile === CM ? 14 : 12), authKey: randomBytes(20) };
    return { p: make(keys), ssrc: (0x10000 + v * 7919) >>> 0 };
  });
}

function time(vs) {
  let index = 70_000;
  const cpu = process.cpuUsage();
  for (let k = 0; k < PACKETS; k++) {
    const sp = packets[k & 15];
    index++;
    for (let i = 0; i < vs.length; i++) {
      const { p, ssrc } = vs[i];
      p.prepare(out);
      out.set(header, OUT_HEAD);
      p.protectShared(out, out32, header.length, sp, ssrc, index);
    }
  }
  const d = process.cpuUsage(cpu);
  return (d.user + d.system) / (PACKETS * vs.length);
}

function rawAddon(mode) {
  return (keys) => {
    const h = addon.create(keys.profile, OUT_HEAD, keys.key, keys.salt, keys.authKey, mode);
    return { prepare() {}, protectShared: (o, _w, hl, sp, ssrc, index) => addon.protect(h, o, hl, sp.payload, ssrc, index) };
  };
}

const cases = [
  ['AES-CM + HMAC-SHA1-80, JS', CM, srtp.createJsProtector],
  ['AES-CM + HMAC-SHA1-80, native', CM, addon && ((k) => srtp.createProtector(k, true))],
  ['AEAD-AES-128-GCM, JS', GCM, srtp.createJsProtector],
  ['AEAD-AES-128-GCM, native', GCM, addon && ((k) => srtp.createProtector(k, true))],
];
if (addon && args['hmac-modes']) {
  for (const [mode, name] of [[0, 'SHA_CTX copy'], [1, 'HMAC_CTX'], [2, 'EVP_MD_CTX_copy_ex'], [3, 'EVP_MAC_init']]) {
    cases.push([`AES-CM native, HMAC via ${name} (raw addon call)`, CM, rawAddon(mode)]);
  }
}

console.log(`${VIEWERS} viewers x ${PACKETS} packets, payload ${PAYLOAD} bytes, ${RUNS} runs, ${addon ? addon.openssl : 'no addon'}`);
const sets = cases.filter((c) => c[2]).map(([name, profile, make]) => ({ name, vs: viewers(profile, make), r: [] }));
for (const s of sets) time(s.vs); // warm-up
// Interleaved: each run times every case once, so a load change on the machine hits all alike.
for (let run = 0; run < RUNS; run++) for (const s of sets) s.r.push(time(s.vs));
for (const s of sets) {
  const r = s.r.sort((a, b) => a - b);
  console.log(`${s.name.padEnd(52)} ${r[0].toFixed(3)} / ${r[r.length >> 1].toFixed(3)} us per call`);
}
