/**
 * The Node side of bench/native/rtp-counter.c (see its header for the protocol): builds it,
 * and in the viewer process (bench/fanout-viewers.mjs) hands it light viewers' UDP sockets,
 * dispatches what it sends back (first RTP, non-RTP datagrams, counters, errors).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'rtp-counter.c');
const NO_K = 0xffffffff;

/**
 * Compiles rtp-counter.c with `cc -O2` (or $CC) into `dir`. Returns { bin } or { error }
 * (no compiler, or it failed), so the caller can fall back to the JS receive path.
 */
export function buildRtpCounter(dir) {
  const cc = process.env.CC ?? 'cc';
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, 'rtp-counter');
  const tmp = `${bin}.tmp-${process.pid}`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', tmp, SOURCE], { encoding: 'utf8' });
  if (r.error) return { error: `${cc}: ${r.error.code === 'ENOENT' ? 'no C compiler' : r.error.message}` };
  if (r.status !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true });
    return { error: `${cc} failed: ${(r.stderr || '').trim().slice(-500)}` };
  }
  renameSync(tmp, bin);
  return { bin, cc };
}

/** The libuv UDP handle behind a node:dgram socket (Node 20: the `state symbol` property). */
function udpHandle(socket) {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const handle = sym && socket[sym]?.handle;
  if (!handle || typeof handle.fd !== 'number' || typeof handle.recvStop !== 'function') {
    throw new Error('this Node has no reachable UDP handle (state symbol .handle.fd/.recvStop)');
  }
  return handle;
}

export class RtpCounter {
  /** Sockets by id: { onFirst(seq, ssrc, length), onDatagram(buf, rinfo), socket }. */
  #socks = new Map();
  #pendingAdds = new Map();
  #pendingStats = new Map();
  #nextK = 0;
  #nextStats = 0;
  #buf = Buffer.alloc(0);
  #closing = false;
  /** Set when the program died or reported a fatal error: every later request fails with it. */
  failed = undefined;
  errors = 0;
  errorSamples = [];

  /** onFatal(message): the program is gone (the counts stop): the caller must fail the run. */
  constructor(bin, { onFatal = () => undefined } = {}) {
    this.child = spawn(bin, [String(process.pid)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    this.child.stdout.on('data', (chunk) => this.#onData(chunk));
    this.child.stdin.on('error', () => undefined);
    this.child.on('error', (e) => this.#fail(`rtp-counter: ${e.message}`, onFatal));
    this.child.on('exit', (code, signal) => {
      if (!this.#closing) {
        const last = this.errorSamples.at(-1) ?? '';
        this.#fail(`rtp-counter exited (${signal ?? `code ${code}`}) ${last} ${stderr.trim()}`.trim(), onFatal);
      }
    });
  }

  get open() {
    return this.#socks.size;
  }

  #fail(message, onFatal) {
    if (this.failed) return;
    this.failed = message;
    for (const p of [...this.#pendingAdds.values(), ...this.#pendingStats.values()]) p.reject(new Error(message));
    this.#pendingAdds.clear();
    this.#pendingStats.clear();
    onFatal(message);
  }

  /**
   * Takes over a dgram socket: Node stops reading it (its datagrams wait in the kernel until
   * the program has the fd), the program reads everything. Resolves with its id; rejects,
   * Node reading again, when the program could not take it.
   */
  add(socket, handlers) {
    if (this.failed) return Promise.reject(new Error(this.failed));
    const handle = udpHandle(socket);
    const k = this.#nextK++;
    handle.recvStop();
    return new Promise((resolve, reject) => {
      this.#socks.set(k, { ...handlers, socket });
      this.#pendingAdds.set(k, {
        resolve: () => resolve(k),
        reject: (e) => {
          this.#socks.delete(k);
          handle.recvStart();
          reject(e);
        },
      });
      this.child.stdin.write(`A ${k} ${handle.fd}\n`);
    });
  }

  /** Before the socket closes: the program closes its duplicate (else the socket lives on). */
  drop(k) {
    if (!this.#socks.delete(k) || this.failed) return;
    this.child.stdin.write(`D ${k}\n`);
  }

  /** Every open socket's counters: { open, user, system (us), errors, socks: [[k, packets, highestSeq, bytes, complete, ssrc]] }. */
  stats() {
    if (this.failed) return Promise.reject(new Error(this.failed));
    const id = this.#nextStats++ >>> 0;
    return new Promise((resolve, reject) => {
      this.#pendingStats.set(id, { resolve, reject });
      this.child.stdin.write(`S ${id}\n`);
    });
  }

  close() {
    this.#closing = true;
    this.child.stdin.end();
  }

  #onData(chunk) {
    let buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 12) {
      const len = buf.readUInt32LE(off + 8);
      if (buf.length - off < 12 + len) break;
      this.#onFrame(String.fromCharCode(buf[off]), buf.readUInt32LE(off + 4), buf.subarray(off + 12, off + 12 + len));
      off += 12 + len;
    }
    this.#buf = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
  }

  #onFrame(type, k, p) {
    switch (type) {
      case 'P': {
        const s = this.#socks.get(k);
        if (!s) return; // dropped meanwhile
        const a = p.readUInt32BE(0);
        const address = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
        // A copy: werift may keep it (DTLS fragments), and the chunk is reused.
        const data = Buffer.from(p.subarray(6));
        s.onDatagram(data, { address, family: 'IPv4', port: p.readUInt16BE(4), size: data.length });
        return;
      }
      case 'F':
        this.#socks.get(k)?.onFirst(p.readUInt16LE(0), p.readUInt32LE(2), p.readUInt32LE(6));
        return;
      case 'a': {
        const pending = this.#pendingAdds.get(k);
        this.#pendingAdds.delete(k);
        pending?.resolve();
        return;
      }
      case 'S': {
        const pending = this.#pendingStats.get(k);
        this.#pendingStats.delete(k);
        const count = p.readUInt32LE(0);
        const socks = [];
        for (let i = 0, o = 32; i < count; i++, o += 48) {
          socks.push([0, 1, 2, 3, 4, 5].map((j) => p.readDoubleLE(o + 8 * j)));
        }
        pending?.resolve({ open: p.readUInt32LE(4), user: p.readDoubleLE(8), system: p.readDoubleLE(16), errors: p.readDoubleLE(24), socks });
        return;
      }
      case 'E': {
        const message = `rtp-counter${k === NO_K ? '' : ` (socket ${k})`}: ${p.toString('utf8')}`;
        const pending = this.#pendingAdds.get(k);
        if (pending) {
          this.#pendingAdds.delete(k);
          pending.reject(new Error(message));
          return;
        }
        this.errors++;
        if (this.errorSamples.length < 5) this.errorSamples.push(message);
        return;
      }
      default:
        this.errors++;
        if (this.errorSamples.length < 5) this.errorSamples.push(`rtp-counter: unknown frame type ${type}`);
    }
  }
}
