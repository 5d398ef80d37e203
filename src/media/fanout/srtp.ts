import { Cipher, createCipheriv, hash } from 'node:crypto';
import { endianness } from 'node:os';
import type { SharedPacket } from './shared-packet';
import { sha1Outer, sha1State } from './sha1-block';

/** DTLS-SRTP protection profiles (RFC 5764, RFC 7714) the lean path implements. */
export const SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001;
export const SRTP_AEAD_AES_128_GCM = 0x0007;

/**
 * Bytes every output buffer keeps in front of the RTP packet: the JS HMAC's inner key block
 * (key XOR ipad) sits there, so the inner SHA-1 is one call over one contiguous buffer (the
 * native protector keeps its key state itself and leaves them alone).
 */
export const OUT_HEAD = 64;

/** The sending side's SRTP session keys (werift's `srtp.localContext` after the KDF). */
export interface SrtpSessionKeys {
  profile: number;
  key: Buffer;
  salt: Buffer;
  /** HMAC-SHA1 key (AES-CM profile only). */
  authKey?: Buffer;
}

/**
 * The rollover counter of one SSRC (RFC 3711 section 3.3.1): maps a 16-bit sequence number
 * to the 48-bit packet index, the way the receiver will (within 2^15 of the highest seen).
 */
export class RolloverCounter {
  private highest = -1;

  index(seq: number): number {
    if (this.highest < 0) {
      this.highest = seq;
      return seq;
    }
    let index = Math.floor(this.highest / 0x10000) * 0x10000 + seq;
    const delta = index - this.highest;
    if (delta > 0x8000) index -= 0x10000;
    else if (delta < -0x8000) index += 0x10000;
    if (index < 0) index += 0x10000;
    if (index > this.highest) this.highest = index;
    return index;
  }

  /** The rollover counter of the highest index so far. */
  get roc(): number {
    return this.highest < 0 ? 0 : Math.floor(this.highest / 0x10000);
  }
}

/**
 * Encrypts one viewer's RTP in place in its output buffers. An output buffer holds
 * `OUT_HEAD` bytes (see `prepare`), then the RTP header (written by the caller), then room
 * for the payload and the tag. Returns the SRTP packet's length (from `OUT_HEAD`).
 */
export interface SrtpProtector {
  readonly profile: number;
  readonly tagLength: number;
  /** Writes what this profile keeps in front of the packet; before each packet (the output buffer is shared). */
  prepare(out: Buffer): void;
  /** The live path: the payload of a shared packet, at a new highest index of `ssrc`. */
  protectShared(out: Buffer, out32: Int32Array, headerLength: number, packet: SharedPacket, ssrc: number, index: number): number;
  /** Anything else (retransmissions, RTX): any plaintext, any index. */
  protect(out: Buffer, headerLength: number, plain: Buffer, ssrc: number, index: number): number;
  /**
   * The native protector only (undefined otherwise): builds one SRTP packet at `out[offset]`
   * (`header` copied, `plain` encrypted after it, the tag) and returns its length, so that
   * several packets can be built back to back in one buffer (see output.ts, `SegmentRun`).
   */
  protectInto?: (out: Buffer, offset: number, header: Buffer, plain: Buffer, ssrc: number, index: number) => number;
  /**
   * Frees native state now (the native protector's OpenSSL contexts; a finalizer frees them
   * otherwise, when the protector is collected). Nothing for the JS ones. Idempotent; the
   * protector must not be used after it.
   */
  close?(): void;
}

/** The optional addon (native/srtp, package `webrtc-oneway-srtp`): see its index.d.ts. */
interface NativeSrtp {
  create(profile: number, head: number, key: Buffer, salt: Buffer, authKey: Buffer | null, hmacMode?: number): object;
  protect(handle: object, out: Buffer, headerLength: number, plain: Buffer, ssrc: number, index: number): number;
  close(handle: object): void;
  /** Present in builds with the native UDP send (see udp-send.ts). */
  sendto?(fd: number, buf: Uint8Array, offset: number, length: number, ipv4: number, port: number): number;
  /** Present in builds with segmented sends (see output.ts, `SegmentRun`). */
  protectInto?(handle: object, out: Buffer, offset: number, header: Buffer, plain: Buffer, ssrc: number, index: number): number;
  sendSegments?(fd: number, buf: Uint8Array, offset: number, length: number, segmentSize: number, ipv4: number, port: number): number;
  openssl: string;
}

let nativeSrtp: NativeSrtp | null | undefined;
let nativeSrtpError: string | undefined;

/**
 * The native SRTP addon when it is installed and loads (required once; never throws), else
 * undefined (`nativeSrtpLoadError()` says why). It is an optional peer dependency, built by
 * node-gyp at install time, as `ws` uses `bufferutil`: without a compiler the JS protectors
 * below serve.
 */
export function loadNativeSrtp(): NativeSrtp | undefined {
  if (nativeSrtp === undefined) {
    try {
      const m = require('webrtc-oneway-srtp') as NativeSrtp;
      nativeSrtp = typeof m.create === 'function' && typeof m.protect === 'function' ? m : null;
      if (!nativeSrtp) nativeSrtpError = 'webrtc-oneway-srtp has no create/protect';
    } catch (e) {
      nativeSrtp = null;
      nativeSrtpError = (e as Error).message.split('\n')[0];
    }
  }
  return nativeSrtp ?? undefined;
}

/** Why the native addon did not load (undefined when it did, or was not tried yet). */
export function nativeSrtpLoadError(): string | undefined {
  return nativeSrtpError;
}

/** Whether `createProtector` makes native protectors: the addon loads and `SRTP_NATIVE` is not `0`. */
export function usesNativeSrtp(): boolean {
  return process.env.SRTP_NATIVE !== '0' && loadNativeSrtp() !== undefined;
}

let warnedMissing = false;

/**
 * The protector for these keys: the native one when the addon loads (unless the environment
 * sets `SRTP_NATIVE=0`), else the JS one. `SRTP_NATIVE=1` asks for the native one: without
 * the addon a warning says so, once, and the JS one serves. `native` overrides the
 * environment (tests, benchmarks).
 */
export function createProtector(keys: SrtpSessionKeys, native?: boolean): SrtpProtector {
  if (keys.profile !== SRTP_AES128_CM_HMAC_SHA1_80 && keys.profile !== SRTP_AEAD_AES_128_GCM) {
    throw new Error(`SRTP profile 0x${keys.profile.toString(16)} is not supported by the lean send path`);
  }
  const want = native ?? process.env.SRTP_NATIVE !== '0';
  const addon = want ? loadNativeSrtp() : undefined;
  if (addon) return new NativeProtector(addon, keys);
  if (want && (native === true || process.env.SRTP_NATIVE === '1') && !warnedMissing) {
    warnedMissing = true;
    process.emitWarning(`native SRTP requested but webrtc-oneway-srtp did not load (${nativeSrtpError}); using the JavaScript SRTP`);
  }
  return createJsProtector(keys);
}

/** The pure-JS protector (the reference the native one is tested against). */
export function createJsProtector(keys: SrtpSessionKeys): SrtpProtector {
  if (keys.profile === SRTP_AES128_CM_HMAC_SHA1_80) return new AesCmProtector(keys);
  if (keys.profile === SRTP_AEAD_AES_128_GCM) return new AesGcmProtector(keys);
  throw new Error(`SRTP profile 0x${keys.profile.toString(16)} is not supported by the lean send path`);
}

/**
 * Both profiles in the addon, one call per packet: AES-128-CTR (or GCM with the header as AAD)
 * from the plaintext straight into the output buffer after the header, the ROC and the
 * HMAC-SHA1-80 tag (or the GCM tag) after it, through Node's own OpenSSL with contexts keyed
 * once per protector. Nothing goes in front of the packet (`prepare` does nothing).
 */
class NativeProtector implements SrtpProtector {
  readonly profile: number;
  readonly tagLength: number;
  private readonly handle: object;
  private readonly protectFn: NativeSrtp['protect'];
  readonly protectInto?: SrtpProtector['protectInto'];

  constructor(
    private readonly addon: NativeSrtp,
    keys: SrtpSessionKeys,
  ) {
    this.profile = keys.profile;
    this.tagLength = keys.profile === SRTP_AES128_CM_HMAC_SHA1_80 ? 10 : 16;
    if (keys.profile === SRTP_AES128_CM_HMAC_SHA1_80 && !keys.authKey) throw new Error('AES-CM needs an authentication key');
    this.handle = addon.create(keys.profile, OUT_HEAD, keys.key, keys.salt, keys.authKey ?? null);
    this.protectFn = addon.protect;
    const into = addon.protectInto;
    if (typeof into === 'function') {
      const handle = this.handle;
      this.protectInto = (out, offset, header, plain, ssrc, index) => into(handle, out, offset, header, plain, ssrc, index);
    }
  }

  prepare(): void {
    // Nothing in front of the packet.
  }

  protectShared(out: Buffer, _out32: Int32Array, headerLength: number, packet: SharedPacket, ssrc: number, index: number): number {
    return this.protectFn(this.handle, out, headerLength, packet.payload, ssrc, index);
  }

  protect(out: Buffer, headerLength: number, plain: Buffer, ssrc: number, index: number): number {
    return this.protectFn(this.handle, out, headerLength, plain, ssrc, index);
  }

  close(): void {
    this.addon.close(this.handle);
  }
}

/** Packets whose keystream is made by one AES-ECB call (counter blocks for all of them). */
const KEYSTREAM_BATCH = 8;
const LITTLE_ENDIAN = endianness() === 'LE';

let scratch = new Int32Array(0);

/** The thread's counter-block scratch, exactly `words` long (a view of a buffer grown as needed). */
function counterScratch(words: number): Int32Array {
  if (scratch.buffer.byteLength < words * 4) scratch = new Int32Array(words);
  return scratch.length === words ? scratch : new Int32Array(scratch.buffer, 0, words);
}

function bswap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/**
 * AES_CM_128_HMAC_SHA1_80 (RFC 3711): the keystream of the next `KEYSTREAM_BATCH` packets
 * comes from one reused AES-ECB object over prebuilt counter blocks (AES-CTR is AES-ECB of
 * the counters), XORed in 32-bit words; the HMAC is one one-shot SHA-1 call (inner) and one JS compression (outer, see sha1-block.ts).
 */
class AesCmProtector implements SrtpProtector {
  readonly profile = SRTP_AES128_CM_HMAC_SHA1_80;
  readonly tagLength = 10;
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly ecb: Cipher;
  private readonly ipad = Buffer.alloc(64);
  /** The outer SHA-1's state after its first block (key XOR opad): one JS compression per packet. */
  private readonly opadState: Int32Array;
  private readonly ivScratch = Buffer.alloc(16);
  /** Counter blocks per packet in a batch (grown when a payload needs more). */
  private blocks = 76;
  private keystream?: Int32Array;
  private batchSsrc = -1;
  private batchStart = -1;
  /** The inner hash's input, [ipad, header, payload, ROC]: a view cached by buffer and length. */
  private macOf?: Buffer;
  private macView: Buffer = Buffer.alloc(0);

  constructor(keys: SrtpSessionKeys) {
    if (!keys.authKey) throw new Error('AES-CM needs an authentication key');
    this.key = Buffer.from(keys.key);
    this.salt = Buffer.alloc(14);
    keys.salt.copy(this.salt, 0, 0, 14);
    this.ecb = createCipheriv('aes-128-ecb', this.key, null);
    this.ecb.setAutoPadding(false);
    // HMAC (RFC 2104) with a 20-byte key: pad to the 64-byte block, XOR ipad / opad.
    const k = Buffer.alloc(64);
    keys.authKey.copy(k);
    const opad = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) {
      this.ipad[i] = k[i] ^ 0x36;
      opad[i] = k[i] ^ 0x5c;
    }
    this.opadState = sha1State(opad);
  }

  prepare(out: Buffer): void {
    out.set(this.ipad, 0);
  }

  protectShared(out: Buffer, out32: Int32Array, headerLength: number, packet: SharedPacket, ssrc: number, index: number): number {
    const length = packet.payload.length;
    const words = (length + 3) >> 2;
    if (words > this.blocks * 4) this.grow(length);
    const ks = LITTLE_ENDIAN ? this.keystreamFor(ssrc, index) : undefined;
    if (ks === undefined) return this.protect(out, headerLength, packet.payload, ssrc, index);
    const ksOffset = (index - this.batchStart) * this.blocks * 4;
    const o = (OUT_HEAD + headerLength) >> 2;
    const w = packet.words;
    // Up to 3 bytes past the payload get keystream garbage; the ROC and tag overwrite them.
    for (let i = 0; i < words; i++) out32[o + i] = w[i] ^ ks[ksOffset + i];
    return this.authenticate(out, headerLength + length, index);
  }

  protect(out: Buffer, headerLength: number, plain: Buffer, ssrc: number, index: number): number {
    const iv = this.ivScratch;
    iv.fill(0);
    iv.writeUInt32BE(ssrc >>> 0, 4);
    iv.writeUInt32BE(Math.floor(index / 0x10000), 8);
    iv.writeUInt16BE(index & 0xffff, 12);
    for (let i = 0; i < 14; i++) iv[i] ^= this.salt[i];
    const enc = createCipheriv('aes-128-ctr', this.key, iv).update(plain);
    enc.copy(out, OUT_HEAD + headerLength);
    return this.authenticate(out, headerLength + plain.length, index);
  }

  /** Appends the ROC, computes the tag over [header, payload, ROC], writes it over the ROC. */
  private authenticate(out: Buffer, packetLength: number, index: number): number {
    const end = OUT_HEAD + packetLength;
    out.writeUInt32BE(Math.floor(index / 0x10000), end);
    // Most packets are full size: the same view serves them all (one Buffer less per packet).
    if (this.macOf !== out || this.macView.length !== end + 4) {
      this.macOf = out;
      this.macView = out.subarray(0, end + 4);
    }
    const inner = hash('sha1', this.macView, 'binary');
    // The outer hash is one block after the constant key XOR opad: computed here, in place.
    sha1Outer(this.opadState, inner, out, end, 10);
    return packetLength + 10;
  }

  /** The batch keystream (as words) holding `index`, made anew when `index` is past it. */
  private keystreamFor(ssrc: number, index: number): Int32Array | undefined {
    if (ssrc === this.batchSsrc && this.keystream && index >= this.batchStart && index < this.batchStart + KEYSTREAM_BATCH) {
      return this.keystream;
    }
    // An older index (a retransmission) takes the per-packet path and keeps the batch.
    if (ssrc === this.batchSsrc && index < this.batchStart) return undefined;
    const c = this.fillCounters(ssrc, index);
    const ks = this.ecb.update(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
    this.keystream =
      (ks.byteOffset & 3) === 0
        ? new Int32Array(ks.buffer, ks.byteOffset, ks.length >> 2)
        : new Int32Array(new Uint8Array(ks).buffer);
    return this.keystream;
  }

  /**
   * The counter blocks of `KEYSTREAM_BATCH` packets from `start`, in a scratch array shared by
   * every protector of the thread (the ECB call reads it at once; not one 9.7 KB array per viewer).
   */
  private fillCounters(ssrc: number, start: number): Int32Array {
    const perPacket = this.blocks * 4;
    const c = counterScratch(perPacket * KEYSTREAM_BATCH);
    const s = this.salt;
    // Words 0 and 1 of every block: salt, and salt XOR SSRC.
    const w0 = bswap32(s.readUInt32BE(0));
    const w1 = bswap32((s.readUInt32BE(4) ^ ssrc) >>> 0);
    this.batchSsrc = ssrc;
    const s8 = s.readUInt32BE(8);
    for (let k = 0; k < KEYSTREAM_BATCH; k++) {
      const index = start + k;
      const w2 = bswap32((s8 ^ Math.floor(index / 0x10000)) >>> 0);
      const seq = index & 0xffff;
      const w3 = (s[12] ^ (seq >> 8)) | ((s[13] ^ (seq & 0xff)) << 8);
      const base = k * perPacket;
      for (let j = 0; j < this.blocks; j++) {
        const b = base + j * 4;
        c[b] = w0;
        c[b + 1] = w1;
        c[b + 2] = w2;
        c[b + 3] = w3 | ((j >> 8) << 16) | ((j & 0xff) << 24);
      }
    }
    this.batchStart = start;
    return c;
  }

  /** Makes room for payloads of `bytes` in the batch (a source with a larger MTU). */
  private grow(bytes: number): void {
    const blocks = Math.ceil(bytes / 16);
    if (blocks > this.blocks) {
      this.blocks = blocks;
      this.keystream = undefined;
      this.batchSsrc = -1;
    }
  }
}

/** AEAD_AES_128_GCM (RFC 7714): one GCM cipher per packet (node:crypto cannot re-IV one). */
class AesGcmProtector implements SrtpProtector {
  readonly profile = SRTP_AEAD_AES_128_GCM;
  readonly tagLength = 16;
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly iv = Buffer.alloc(12);

  constructor(keys: SrtpSessionKeys) {
    this.key = Buffer.from(keys.key);
    this.salt = Buffer.alloc(12);
    keys.salt.copy(this.salt, 0, 0, 12);
  }

  prepare(): void {
    // Nothing in front of the packet.
  }

  protectShared(out: Buffer, _out32: Int32Array, headerLength: number, packet: SharedPacket, ssrc: number, index: number): number {
    return this.protect(out, headerLength, packet.payload, ssrc, index);
  }

  protect(out: Buffer, headerLength: number, plain: Buffer, ssrc: number, index: number): number {
    const iv = this.iv;
    iv.writeUInt16BE(0, 0);
    iv.writeUInt32BE(ssrc >>> 0, 2);
    iv.writeUInt32BE(Math.floor(index / 0x10000), 6);
    iv.writeUInt16BE(index & 0xffff, 10);
    for (let i = 0; i < 12; i++) iv[i] ^= this.salt[i];
    const cipher = createCipheriv('aes-128-gcm', this.key, iv, { authTagLength: 16 });
    cipher.setAAD(out.subarray(OUT_HEAD, OUT_HEAD + headerLength));
    const enc = cipher.update(plain);
    cipher.final();
    const at = OUT_HEAD + headerLength;
    enc.copy(out, at);
    cipher.getAuthTag().copy(out, at + plain.length);
    return headerLength + plain.length + 16;
  }
}
