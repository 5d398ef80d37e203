#!/usr/bin/env node
/**
 * The lean path's UDP send alone (dist/media/fanout/udp-send.js): µs per 1,200-byte datagram
 * on loopback, through libuv's handle (SRTP_NATIVE=0) and through the native addon's
 * `sendto`, alternating rounds in one process. The receiver is a bound socket that does not
 * read (the kernel drops what overflows its buffer after delivering it), so the figure is
 * the sender's cost: JS, the binding and the kernel's send path.
 *
 *   npm run build && node bench/udp-send-micro.mjs [--sends=200000] [--rounds=5]
 */
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const { UdpSend } = require(join(ROOT, 'dist/media/fanout/udp-send.js'));
const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const SENDS = arg('sends', 200_000);
const ROUNDS = arg('rounds', 5);

const bind = () => new Promise((r) => { const s = createSocket('udp4'); s.bind(0, '127.0.0.1', () => r(s)); });
const a = await bind();
const b = await bind();
b.removeAllListeners('message');
// Not read: stop the receiver's reads so that this process spends nothing on them.
const key = Object.getOwnPropertySymbols(b).find((s) => s.description === 'state symbol');
b[key].handle.recvStop?.();
const port = b.address().port;

function make(native) {
  const before = process.env.SRTP_NATIVE;
  process.env.SRTP_NATIVE = native ? '1' : '0';
  try {
    return UdpSend.create(a);
  } finally {
    if (before === undefined) delete process.env.SRTP_NATIVE;
    else process.env.SRTP_NATIVE = before;
  }
}
const paths = { libuv: make(false), native: make(true) };
if (!paths.native.native) console.log('udp-send-micro: the native addon is not built; both rows are libuv');
const buf = Buffer.alloc(1300, 7);
const list = [new Uint8Array(buf.buffer, buf.byteOffset + 64, 1200)];
const results = { libuv: [], native: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, udp] of Object.entries(paths)) {
    let failed = 0;
    const t0 = process.cpuUsage();
    for (let i = 0; i < SENDS; i++) if (udp.send(list, port, '127.0.0.1') <= 0) failed++;
    const t = process.cpuUsage(t0);
    results[name].push((t.user + t.system) / SENDS);
    if (failed) console.log(`  ${name}: ${failed} sends queued or failed`);
  }
}
for (const [name, r] of Object.entries(results)) {
  r.sort((x, y) => x - y);
  console.log(`${name.padEnd(7)} µs CPU per datagram: min ${r[0].toFixed(2)}, median ${r[r.length >> 1].toFixed(2)} (${ROUNDS} rounds of ${SENDS})`);
}
a.close();
b.close();
