import { randomBytes } from 'node:crypto';
import {
  GenericNack,
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpTransceiver,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  SrtpSession,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from 'werift';
import { loopbackPeer } from '../../../test/helpers/werift-viewer';
import { configEpoch } from './config-epoch';
import { LeanSender } from './lean-sender';
import { FULL_CHECK_EVERY } from './sender-config';
import { ntpNow, PacketHistory } from './shared-packet';
import { SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, usesNativeSrtp } from './srtp';

/**
 * Failures the kernel gives only on some machines (a full socket buffer, no UDP GSO), queued
 * by a test for the addon's next calls; every other call is the real addon's.
 */
const faults = { sendSegments: [] as number[], sendto: [] as number[] };
jest.mock('webrtc-oneway-srtp', () => {
  const real = jest.requireActual('webrtc-oneway-srtp') as Record<string, unknown>;
  // Its exports are read-only: a copy whose two send functions can fail on request.
  const m: Record<string, unknown> = {};
  for (const k of Object.getOwnPropertyNames(real)) m[k] = real[k];
  for (const k of ['sendSegments', 'sendto'] as const) {
    const fn = real[k] as (...a: unknown[]) => number;
    m[k] = (...a: unknown[]) => (faults[k].length ? faults[k].shift()! : fn(...a));
  }
  return m;
});

/**
 * The lean sender on a real werift connection (loopback): a werift peer receives, decrypts
 * and checks everything it sends, asks for lost packets with NACK (answered as RTX), and
 * gets sender reports with its counters.
 */

const VP8 = () =>
  new RTCRtpCodecParameters({
    mimeType: 'video/VP8',
    clockRate: 90000,
    payloadType: 96,
    rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
  });
const RTX = () => new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 97, parameters: 'apt=96' });

function peer(withRtx: boolean): RTCPeerConnection {
  return loopbackPeer({
    codecs: { audio: [], video: withRtx ? [VP8(), RTX()] : [VP8()] },
    headerExtensions: { audio: [], video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()] },
  });
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Received {
  seq: number;
  ts: number;
  marker: boolean;
  pt: number;
  ssrc: number;
  payload: Buffer;
}

async function connect(profile: number, withRtx: boolean) {
  const server = peer(withRtx);
  const client = peer(withRtx);
  const track = new MediaStreamTrack({ kind: 'video' });
  const transceiver: RTCRtpTransceiver = server.addTransceiver(track, { direction: 'sendonly' });
  const received: Received[] = [];
  const reports: RtcpSrPacket[] = [];
  client.onTrack.subscribe((t) => {
    t.onReceiveRtp.subscribe((p) =>
      received.push({
        seq: p.header.sequenceNumber,
        ts: p.header.timestamp,
        marker: p.header.marker,
        pt: p.header.payloadType,
        ssrc: p.header.ssrc,
        payload: Buffer.from(p.payload),
      }),
    );
  });
  const only = (pc: RTCPeerConnection) => {
    // Both ends offer just this profile, so DTLS must pick it.
    for (const t of pc.dtlsTransports) (t as unknown as { srtpProfiles: number[] }).srtpProfiles = [profile];
  };
  const offer = await server.createOffer();
  await server.setLocalDescription(offer);
  only(server);
  await client.setRemoteDescription(server.localDescription!);
  only(client);
  client.getTransceivers()[0].receiver.onRtcp.subscribe((p) => {
    if (p.type === RtcpSrPacket.type) reports.push(p as RtcpSrPacket);
  });
  const answer = await client.createAnswer();
  await client.setLocalDescription(answer);
  await server.setRemoteDescription(client.localDescription!);
  const sender = transceiver.sender as unknown as { canSendRtp(): boolean; ssrc: number; rtxSsrc: number; rtxPayloadType?: number };
  await until('the sender to be ready', () => sender.canSendRtp());
  const negotiated = (server.dtlsTransports[0] as unknown as { dtls: { srtp: { srtpProfile: number } } }).dtls.srtp.srtpProfile;
  return { server, client, transceiver, sender, received, reports, negotiated };
}

const rtp = (seq: number, ts: number, marker: boolean) =>
  new RtpPacket(new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: ts >>> 0, payloadType: 100, marker }), randomBytes(1100 + (seq % 13)));

/** Delivers `count` packets numbered from `from` (a keyframe each), 2 ms apart. */
async function feed(lean: LeanSender, history: PacketHistory, from: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const p = rtp(from + i, 3000 * (from + i), true);
    lean.deliver(p, history.push(p));
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe.each([
  ['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80],
  ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM],
])('LeanSender on a werift connection, %s', (_name, profile) => {
  let c: Awaited<ReturnType<typeof connect>>;
  let lean: LeanSender;
  afterEach(async () => {
    lean?.close();
    await c?.client.close();
    await c?.server.close();
  });

  it('delivers every packet across the sequence wrap, answers a NACK with RTX, reports its counters', async () => {
    c = await connect(profile, true);
    expect(c.negotiated).toBe(profile);
    expect(c.sender.rtxPayloadType).toBe(97);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(256);
    const sent: RtpPacket[] = [];
    const config = (c.server as unknown as { config: { debug?: { outboundPacketLoss?: number } } }).config;
    // 3 packets a frame, across the 16-bit wrap (ROC 0 -> 1); the 4th packet is "lost".
    const first = 65_520;
    for (let i = 0; i < 40; i++) {
      const p = rtp(first + i, 3000 * Math.floor(i / 3), i % 3 === 2);
      sent.push(p);
      config.debug = i === 4 ? { outboundPacketLoss: 1e-9 } : undefined;
      lean.deliver(p, history.push(p, ntpNow()));
      await new Promise((r) => setTimeout(r, 5));
    }
    config.debug = undefined;
    const lostSeq = sent[4].header.sequenceNumber;

    // The client's NACK for the lost packet comes back as RTX, unwrapped to the original.
    await until('the lost packet, resent', () => c.received.some((r) => r.seq === lostSeq), 5_000);
    await until('every packet', () => new Set(c.received.map((r) => r.seq)).size === 40, 5_000);
    expect(lean.stats.nacked).toBeGreaterThan(0);
    expect(lean.stats.retransmitted).toBeGreaterThan(0);
    for (const p of sent) {
      const got = c.received.find((r) => r.seq === p.header.sequenceNumber)!;
      expect(got).toMatchObject({ ts: p.header.timestamp, marker: p.header.marker, pt: 96, ssrc: c.sender.ssrc });
      expect(got.payload.equals(p.payload)).toBe(true);
    }
    expect(lean.stats.sent).toBe(40);

    // A sender report with werift's counters as the lean path kept them.
    const s = c.transceiver.sender as unknown as { packetCount: number; octetCount: number };
    expect(s.packetCount).toBe(40);
    expect(s.octetCount).toBe(sent.reduce((n, p) => n + p.payload.length, 0));
    await until('a sender report', () => c.reports.length > 0, 5_000);
    const sr = c.reports[c.reports.length - 1];
    expect(sr.ssrc).toBe(c.sender.ssrc);
    expect(sr.senderInfo.packetCount).toBe(40);
    expect(sr.senderInfo.octetCount).toBe(s.octetCount);
    expect(sr.senderInfo.rtpTimestamp).toBe(sent[39].header.timestamp);
    // Its NTP time is the last packet's send time: within seconds of now, in NTP seconds.
    const srSeconds = Number(sr.senderInfo.ntpTimestamp >> 32n);
    expect(Math.abs(srSeconds - Number(ntpNow() >> 32n))).toBeLessThan(5);
  });

  it('sends a batch (a frame) in segmented sends: every packet arrives, in order, decrypted; a NACK for one is answered', async () => {
    c = await connect(profile, true);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(256);
    const sent: RtpPacket[] = [];
    // Frames as a packetizer cuts them (equal chunks, a shorter last one), then frames whose
    // sizes a segmented send cannot take in one go (a longer packet after a shorter one).
    const frames = [[1200, 1200, 1200, 700], [1200, 300], [500], [900, 900, 1200, 1200, 100, 1200], Array(70).fill(1000)];
    let seq = 1000;
    frames.forEach((sizes, f) => {
      const d = lean.deliver as unknown as { beginBatch(): void; endBatch(): void };
      d.beginBatch();
      sizes.forEach((size, i) => {
        const p = new RtpPacket(
          new RtpHeader({ sequenceNumber: seq++, timestamp: 3000 * f, payloadType: 100, marker: i === sizes.length - 1 }),
          randomBytes(size),
        );
        sent.push(p);
        lean.deliver(p, history.push(p, ntpNow()));
      });
      d.endBatch();
    });
    const total = sent.length;
    await until('every packet', () => new Set(c.received.map((r) => r.seq)).size === total, 5_000);
    expect(c.received.slice(0, total).map((r) => r.seq)).toEqual(sent.map((p) => p.header.sequenceNumber));
    for (const p of sent) {
      const got = c.received.find((r) => r.seq === p.header.sequenceNumber)!;
      expect(got.payload.equals(p.payload)).toBe(true);
    }
    expect(lean.stats.sent).toBe(total);
    // With the addon, all went out in segmented sends but the two that stood alone in their
    // run: the one-packet frame, and the 1200 after the 100 (runs: 900 900 | 1200 1200 100 | 1200).
    expect(lean.stats.segmented).toBe(usesNativeSrtp() ? total - 2 : 0);
    const s = c.transceiver.sender as unknown as { packetCount: number };
    expect(s.packetCount).toBe(total);
    // The client asks for one of them again (as a NACK for a lost one would): RTX answers.
    const again = sent[2].header.sequenceNumber;
    const before = c.received.filter((r) => r.seq === again).length;
    const receiver = c.client.getTransceivers()[0].receiver as unknown as { dtlsTransport: { sendRtcp(p: unknown[]): Promise<void> } };
    await receiver.dtlsTransport.sendRtcp([
      new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: c.sender.ssrc, lost: [again] }) }),
    ]);
    await until('the resent packet', () => c.received.filter((r) => r.seq === again).length > before, 5_000);
    expect(lean.stats.retransmitted).toBeGreaterThan(0);
  });

  it('picks up new SRTP keys (a DTLS re-key) at the next packet', async () => {
    c = await connect(profile, false);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(64);
    const send = (from: number, count: number) => feed(lean, history, from, count);
    await send(100, 10);
    await until('the first packets', () => c.received.length === 10);
    expect(lean.stats.reconfigurations).toBe(1);
    // New master keys on both ends, as a new DTLS handshake would give werift: its exported
    // keys change and werift's `updateSrtpSession` makes the SRTP sessions from them.
    type Keys = { localKey: Buffer; localSalt: Buffer; remoteKey: Buffer; remoteSalt: Buffer };
    type Dtls = { srtp: unknown; updateSrtpSession(): void; dtls: { extractSessionKeys(): Keys } };
    const serverDtls = c.server.dtlsTransports[0] as unknown as Dtls;
    const clientDtls = c.client.dtlsTransports[0] as unknown as Dtls;
    const saltLength = profile === SRTP_AEAD_AES_128_GCM ? 12 : 14;
    const a = { key: randomBytes(16), salt: randomBytes(saltLength) };
    const b = { key: randomBytes(16), salt: randomBytes(saltLength) };
    serverDtls.dtls.extractSessionKeys = () => ({ localKey: a.key, localSalt: a.salt, remoteKey: b.key, remoteSalt: b.salt });
    clientDtls.dtls.extractSessionKeys = () => ({ localKey: b.key, localSalt: b.salt, remoteKey: a.key, remoteSalt: a.salt });
    serverDtls.updateSrtpSession();
    clientDtls.updateSrtpSession();
    await send(110, 10);
    await until('the packets under the new keys', () => c.received.length === 20);
    expect(lean.stats.reconfigurations).toBe(2);
    expect(c.received.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
  });

  it('picks up a change no hook sees (keys replaced by hand) within FULL_CHECK_EVERY packets', async () => {
    c = await connect(profile, false);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(128);
    const send = (from: number, count: number) => feed(lean, history, from, count);
    await send(100, 3);
    await until('the first packets', () => c.received.length === 3);
    type Dtls = { srtp: unknown };
    const saltLength = profile === SRTP_AEAD_AES_128_GCM ? 12 : 14;
    const a = { key: randomBytes(16), salt: randomBytes(saltLength) };
    const b = { key: randomBytes(16), salt: randomBytes(saltLength) };
    (c.server.dtlsTransports[0] as unknown as Dtls).srtp = new SrtpSession({
      keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt },
      profile,
    } as never);
    (c.client.dtlsTransports[0] as unknown as Dtls).srtp = new SrtpSession({
      keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt },
      profile,
    } as never);
    await send(103, FULL_CHECK_EVERY + 5);
    const last = 103 + FULL_CHECK_EVERY + 4;
    await until('the packets after the full check', () => c.received.some((r) => r.seq === last));
    expect(lean.stats.reconfigurations).toBe(2);
    // The packets sent with the old keys before the check cannot be decrypted; from the check on, every one is.
    const seqs = new Set(c.received.map((r) => r.seq));
    const firstNew = 103 + FULL_CHECK_EVERY;
    for (let seq = firstNew; seq <= last; seq++) expect(seqs.has(seq)).toBe(true);
  });

  it('stops at the next packet when werift stops the sender (the hooks move the config epoch)', async () => {
    c = await connect(profile, false);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(16);
    for (let seq = 1; seq <= 3; seq++) {
      const p = rtp(seq, seq * 3000, true);
      lean.deliver(p, history.push(p));
    }
    await until('the first packets', () => c.received.length === 3);
    const epoch = configEpoch.value;
    c.transceiver.sender.stop();
    expect(configEpoch.value).toBeGreaterThan(epoch);
    const p = rtp(4, 4 * 3000, true);
    lean.deliver(p, history.push(p));
    expect(lean.stats.sent).toBe(3);
    expect(lean.stats.dropped).toBe(1);
  });

  it('a new feed on the same sender (a resume) runs on from the last one, across its wrap', async () => {
    c = await connect(profile, false);
    const history = new PacketHistory(64);
    const feed = async (from: number, ts0: number, count: number) => {
      lean = new LeanSender(c.transceiver.sender);
      for (let i = 0; i < count; i++) {
        const p = rtp(from + i, ts0 + 3000 * i, true);
        lean.deliver(p, history.push(p));
        await new Promise((r) => setTimeout(r, 2));
      }
      lean.close();
    };
    // The first feed crosses the 16-bit wrap: the receiver's rollover counter is 1 after it.
    await feed(65_530, 1000, 12);
    await until('the first feed', () => c.received.length === 12);
    // The next one starts from the source's numbers (a new source track, no offsets), far
    // behind and with ROC 0 of its own: the viewer must still get every packet, numbered on.
    await new Promise((r) => setTimeout(r, 50));
    await feed(20_000, 555, 10);
    await until('the second feed', () => c.received.length === 22, 5_000);
    const seqs = c.received.map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 22 }, (_, i) => (65_530 + i) & 0xffff));
    const ts = c.received.map((r) => r.ts);
    const gap = (ts[12] - ts[11]) >>> 0;
    // The wall time between the feeds (>= 50 ms at 90 kHz), not a jump back to the new feed's clock.
    expect(gap).toBeGreaterThanOrEqual(4_000);
    expect(gap).toBeLessThan(90_000 * 5);
    expect(ts.slice(13).map((t, i) => (t - ts[12 + i]) >>> 0)).toEqual(Array(9).fill(3000));
  });

  it('sends nothing after close', async () => {
    c = await connect(profile, false);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(16);
    const p = rtp(1, 1, true);
    lean.close();
    lean.deliver(p, history.push(p));
    await new Promise((r) => setTimeout(r, 100));
    expect(c.received).toHaveLength(0);
    expect(lean.stats.sent).toBe(0);
  });
});

describe('LeanSender when the kernel refuses a send', () => {
  let c: Awaited<ReturnType<typeof connect>>;
  let lean: LeanSender;
  afterEach(async () => {
    faults.sendSegments.length = faults.sendto.length = 0;
    lean?.close();
    await c?.client.close();
    await c?.server.close();
  });

  /** Sends one frame of `sizes` as a batch; resolves once the client has every packet of it. */
  async function frame(history: PacketHistory, seq: number, sizes: number[]): Promise<number[]> {
    const d = lean.deliver as unknown as { beginBatch(): void; endBatch(): void };
    const seqs = sizes.map((_, i) => seq + i);
    d.beginBatch();
    sizes.forEach((size, i) => {
      const p = new RtpPacket(new RtpHeader({ sequenceNumber: seq + i, timestamp: 90 * seq, payloadType: 100, marker: i === sizes.length - 1 }), randomBytes(size));
      lean.deliver(p, history.push(p, ntpNow()));
    });
    d.endBatch();
    await until(`frame ${seq}`, () => seqs.every((q) => c.received.some((r) => r.seq === q)), 5_000);
    return seqs;
  }

  const needsAddon = () => {
    if (!usesNativeSrtp() && process.env.CI) throw new Error('the native addon (native/srtp) is not built');
    return usesNativeSrtp();
  };

  it('a full socket buffer (EAGAIN): the frame goes out one datagram at a time, through libuv where sendto is refused too; the next frame is segmented again', async () => {
    if (!needsAddon()) return;
    c = await connect(SRTP_AES128_CM_HMAC_SHA1_80, false);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(64);
    await frame(history, 100, [1200, 1200, 700]); // the keyframe path settles, segmented
    const before = lean.stats.segmented;
    expect(before).toBe(3);
    faults.sendSegments.push(-11);
    faults.sendto.push(-11, -11); // two of the three also find the buffer full: libuv queues them
    await frame(history, 200, [1200, 1200, 700]);
    expect(faults.sendSegments).toHaveLength(0);
    expect(faults.sendto).toHaveLength(0);
    expect(lean.stats.segmented).toBe(before);
    expect(lean.stats.sendErrors).toBe(0);
    await frame(history, 300, [1200, 1200, 700]);
    expect(lean.stats.segmented).toBe(before + 3);
    expect(lean.stats.sent).toBe(9);
  });

  // Last in this file: a refusal is remembered for the rest of the thread.
  it('no UDP GSO (EOPNOTSUPP): that frame and every later one go out one datagram at a time, none lost', async () => {
    if (!needsAddon()) return;
    c = await connect(SRTP_AES128_CM_HMAC_SHA1_80, false);
    lean = new LeanSender(c.transceiver.sender);
    const history = new PacketHistory(64);
    faults.sendSegments.push(-95);
    await frame(history, 100, [1200, 1200, 700]);
    await frame(history, 200, [1200, 1200, 1200, 300]);
    expect(faults.sendSegments).toHaveLength(0);
    expect(lean.stats.segmented).toBe(0);
    expect(lean.stats.sent).toBe(7);
    expect(lean.stats.sendErrors).toBe(0);
    expect(c.received.map((r) => r.seq)).toEqual([100, 101, 102, 200, 201, 202, 203]);
  });
});
