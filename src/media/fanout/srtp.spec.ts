import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { PacketHistory } from './shared-packet';
import {
  createJsProtector,
  createProtector,
  loadNativeSrtp,
  OUT_HEAD,
  RolloverCounter,
  SRTP_AEAD_AES_128_GCM,
  SRTP_AES128_CM_HMAC_SHA1_80,
  SrtpProtector,
} from './srtp';
import { buildHeader } from './lean-sender';
import { srtpPair } from '../../../test/helpers/srtp-pair';

// Every case runs on the JS protectors (the reference) and on the native addon's when it is
// built (srtp-native.spec.ts fails under CI when it is not, and compares the two byte for byte).
const IMPLEMENTATIONS = loadNativeSrtp() ? (['js', 'native'] as const) : (['js'] as const);
const PROFILES = IMPLEMENTATIONS.flatMap((impl) => [
  ['AES_CM_128_HMAC_SHA1_80', impl, SRTP_AES128_CM_HMAC_SHA1_80, 14] as const,
  ['AEAD_AES_128_GCM', impl, SRTP_AEAD_AES_128_GCM, 12] as const,
]);

/** A sending protector of `impl` and werift's sessions (see srtpPair). */
function pair(profile: number, saltLength: number, impl: 'js' | 'native'): { protector: SrtpProtector; receiver: SrtpSession; sender: SrtpSession } {
  const p = srtpPair(profile, saltLength, (keys) => (impl === 'js' ? createJsProtector(keys) : createProtector(keys, true)));
  expect(p.protector.constructor.name).toBe(impl === 'js' ? (profile === SRTP_AES128_CM_HMAC_SHA1_80 ? 'AesCmProtector' : 'AesGcmProtector') : 'NativeProtector');
  return p;
}

const EXTENSIONS = [
  { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1 },
  { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 2 },
  { uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', id: 3 },
];

/** Builds one SRTP packet the way LeanSender does (template, patched seq/ts/marker). */
function send(p: SrtpProtector, ssrc: number, packet: RtpPacket, history: PacketHistory, roc: RolloverCounter, shared = true): Buffer {
  const { header } = buildHeader(ssrc, 96, EXTENSIONS, '0');
  const out = Buffer.allocUnsafeSlow(OUT_HEAD + header.length + packet.payload.length + 40);
  const out32 = new Int32Array(out.buffer, out.byteOffset, out.length >> 2);
  p.prepare(out);
  header.copy(out, OUT_HEAD);
  out[OUT_HEAD + 1] = (packet.header.marker ? 0x80 : 0) | 96;
  out.writeUInt16BE(packet.header.sequenceNumber, OUT_HEAD + 2);
  out.writeUInt32BE(packet.header.timestamp, OUT_HEAD + 4);
  const sp = history.push(packet);
  const index = roc.index(packet.header.sequenceNumber);
  const n = shared
    ? p.protectShared(out, out32, header.length, sp, ssrc, index)
    : p.protect(out, header.length, packet.payload, ssrc, index);
  return Buffer.from(out.subarray(OUT_HEAD, OUT_HEAD + n));
}

function rtp(seq: number, ts: number, length: number, marker = false): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, payloadType: 100, marker }), randomBytes(length));
}

describe.each(PROFILES)('lean SRTP, %s (%s)', (_name, impl, profile, saltLength) => {
  it('decrypts with werift: any payload length (not a multiple of 4, above the batch size), marker, extensions', () => {
    const { protector, receiver } = pair(profile, saltLength, impl);
    const history = new PacketHistory(64);
    const roc = new RolloverCounter();
    const ssrc = 0xdeadbeef;
    const lengths = [1, 2, 3, 4, 5, 100, 1199, 1200, 1201, 1216, 1217, 1300, 7, 1500, 0, 64, 65];
    lengths.forEach((len, i) => {
      const packet = rtp(1000 + i, 90_000 + i * 3000, len, i % 3 === 0);
      const enc = send(protector, ssrc, packet, history, roc);
      const dec = RtpPacket.deSerialize(receiver.decrypt(enc));
      expect(dec.header.ssrc).toBe(ssrc);
      expect(dec.header.sequenceNumber).toBe(packet.header.sequenceNumber);
      expect(dec.header.timestamp).toBe(packet.header.timestamp);
      expect(dec.header.marker).toBe(packet.header.marker);
      expect(dec.header.payloadType).toBe(96);
      expect(dec.header.extensions.map((e) => e.id)).toEqual([1, 2, 3]);
      expect(dec.header.extensions[0].payload.toString()).toBe('0');
      expect(dec.payload.equals(packet.payload)).toBe(true);
    });
  });

  it('is byte for byte what werift would send for the same header', () => {
    const { protector, sender } = pair(profile, saltLength, impl);
    const history = new PacketHistory(64);
    const roc = new RolloverCounter();
    const ssrc = 12345678;
    for (let i = 0; i < 20; i++) {
      const packet = rtp((65530 + i) & 0xffff, 1234 + i, 900 + i * 17, i === 19);
      const ours = send(protector, ssrc, packet, history, roc);
      const header = RtpPacket.deSerialize(ours.subarray(0, ours.length - protector.tagLength)).header;
      const theirs = sender.encrypt(packet.payload, header);
      expect(ours.equals(theirs)).toBe(true);
    }
  });

  it('carries the rollover counter across the sequence wrap and answers an old index after it', () => {
    const { protector, receiver } = pair(profile, saltLength, impl);
    const history = new PacketHistory(256);
    const roc = new RolloverCounter();
    const ssrc = 42;
    const sent: RtpPacket[] = [];
    // Across the wrap: 65500 .. 65535, 0 .. 43; every packet must decrypt.
    let seq = 65_500;
    for (let i = 0; i < 80; i++) {
      const packet = rtp(seq, i * 3000, 200 + (i % 7));
      sent.push(packet);
      const dec = RtpPacket.deSerialize(receiver.decrypt(send(protector, ssrc, packet, history, roc)));
      expect(dec.payload.equals(packet.payload)).toBe(true);
      seq = (seq + 1) & 0xffff;
    }
    expect(roc.roc).toBe(1);
    // A retransmission of a packet sent before the wrap (index with ROC 0), per-packet path
    // (werift's receiver accepts one only within 100 packets of the wrap; libsrtp within 2^15).
    const old = sent[30]; // seq 65530
    const dec = RtpPacket.deSerialize(receiver.decrypt(send(protector, ssrc, old, history, roc, false)));
    expect(dec.header.sequenceNumber).toBe(65530);
    expect(dec.payload.equals(old.payload)).toBe(true);
    // ... and the live stream goes on after it.
    const next = rtp(seq, 999, 300);
    expect(RtpPacket.deSerialize(receiver.decrypt(send(protector, ssrc, next, history, roc))).payload.equals(next.payload)).toBe(true);
  });

  it('rejects a tampered packet (the tag covers header and payload)', () => {
    const { protector, receiver } = pair(profile, saltLength, impl);
    const enc = send(protector, 7, rtp(1, 1, 100), new PacketHistory(4), new RolloverCounter());
    enc[5] ^= 1; // timestamp byte
    expect(() => receiver.decrypt(enc)).toThrow();
  });
});

describe('RolloverCounter', () => {
  it('maps sequence numbers to indices like the receiver (RFC 3711 3.3.1)', () => {
    const r = new RolloverCounter();
    expect(r.index(65534)).toBe(65534);
    expect(r.index(65535)).toBe(65535);
    expect(r.index(0)).toBe(65536);
    expect(r.index(65535)).toBe(65535); // late packet from before the wrap
    expect(r.index(1)).toBe(65537);
    expect(r.roc).toBe(1);
  });
});

describe('buildHeader', () => {
  it('uses the two-byte form when an id does not fit the one-byte form', () => {
    const { header, absAt, twccAt } = buildHeader(1, 96, [{ uri: EXTENSIONS[1].uri, id: 15 }, { uri: EXTENSIONS[2].uri, id: 3 }], '0');
    expect(header.readUInt16BE(12)).toBe(0x1000);
    const parsed = RtpHeader.deSerialize(header);
    expect(parsed.extensions.map((e) => [e.id, e.payload.length])).toEqual([
      [3, 2],
      [15, 3],
    ]);
    expect(absAt).toBeGreaterThan(twccAt);
  });
});
