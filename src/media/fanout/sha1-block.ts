/**
 * SHA-1 compression in JavaScript, for the one place where a native call costs more than the
 * work: the HMAC's outer hash (RFC 2104). Its input is [key XOR opad (64 bytes), inner digest
 * (20 bytes)]; the first block is the same for every packet of a viewer, so its state is
 * computed once (`sha1State`) and each packet needs one compression of one block (the digest,
 * the padding, the length). Measured: `crypto.hash('sha1')` of those 84 bytes costs about
 * 0.75 us of which almost all is the call and its new output Buffer; one compression here is
 * a small fraction of that and allocates nothing.
 */

const w = new Int32Array(80);
const hScratch = new Int32Array(5);

/** Runs one SHA-1 compression of `block` (16 big-endian words in `w[0..15]`) over `h` in place. */
function compress(h: Int32Array): void {
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = h[0];
  let b = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  for (let t = 0; t < 80; t++) {
    let f: number;
    let k: number;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc | 0;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6 | 0;
    }
    const temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + b) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
}

/** The SHA-1 state after the first 64-byte block `block` (e.g. an HMAC key XOR opad). */
export function sha1State(block: Buffer): Int32Array {
  if (block.length !== 64) throw new Error('sha1State: one 64-byte block');
  const h = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);
  for (let i = 0; i < 16; i++) w[i] = block.readInt32BE(i * 4);
  compress(h);
  return h;
}

/**
 * SHA-1 of [the 64 bytes `state` was made from, the 20-byte digest `digest`], its first
 * `length` bytes written to `out` at `outAt`: the HMAC-SHA1 tag from the inner digest. The
 * digest comes as a latin1 string (one byte per character): `crypto.hash(..., 'binary')`
 * returns a plain V8 string, cheaper to make and collect than a Buffer with its own
 * ArrayBuffer (and 'buffer' takes `hash()`'s slow path for encodings it does not know).
 */
export function sha1Outer(state: Int32Array, digest: string, out: Buffer, outAt: number, length: number): void {
  for (let i = 0; i < 5; i++) {
    const j = i * 4;
    w[i] = (digest.charCodeAt(j) << 24) | (digest.charCodeAt(j + 1) << 16) | (digest.charCodeAt(j + 2) << 8) | digest.charCodeAt(j + 3);
  }
  w[5] = 0x80000000 | 0;
  for (let i = 6; i < 15; i++) w[i] = 0;
  w[15] = (64 + 20) * 8;
  const h = hScratch;
  h.set(state);
  compress(h);
  for (let i = 0; i < length; i++) out[outAt + i] = h[i >> 2] >>> (24 - 8 * (i & 3));
}
