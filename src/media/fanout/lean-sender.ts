import type { Socket } from 'node:dgram';
import { RTP_EXTENSION_URI, RTCRtpSender, RtpPacket } from 'werift';
import { absSendTime, ntpNow, PacketHistory, SharedPacket } from './shared-packet';
import { createProtector, OUT_HEAD, RolloverCounter, SrtpProtector } from './srtp';

/**
 * The parts of werift's objects the lean path reads (werift 0.25.2; most are not in its
 * public typings). See docs in /work/shared/notes/fanout-performance.md, "The design".
 */
interface SenderInternals {
  ssrc: number;
  rtxSsrc: number;
  rtxPayloadType?: number;
  rtxSequenceNumber: number;
  mid?: string;
  stopped: boolean;
  codec?: { payloadType: number };
  headerExtensions: { uri: string; id: number }[];
  dtlsTransport?: DtlsInternals;
  packetCount: number;
  octetCount: number;
  headerBytesSent: number;
  rtpTimestamp: number;
  ntpTimestamp: bigint;
  retransmittedPacketsSent: number;
  retransmittedBytesSent: number;
  /** Round-trip time from the receiver reports (seconds), once known. */
  rtt?: number;
  onGenericNack: { subscribe(fn: (f: { lost: number[] }) => void): { unSubscribe(): void } };
  runRtcp(): Promise<void>;
}
interface DtlsInternals {
  state: string;
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  config: { debug?: { outboundPacketLoss?: number } };
  srtp?: { localContext: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer } };
  iceTransport: { connection: IceConnectionInternals };
}
interface IceConnectionInternals {
  nominated?: PairInternals;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}
interface PairInternals {
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
  protocol: { type: string; transport?: { socket?: Socket; closed?: boolean } };
}

/** Output buffers per viewer recycled after `send` completes (dgram keeps a buffer until then). */
const RING = 4;
/** Per-viewer map from its sequence numbers to the source history (NACK lookups). */
const SENT_SLOTS = 1024;
/** Output buffers fit a payload this large (plus RTX's 2 bytes and the tag) before they grow. */
const DEFAULT_MAX_PAYLOAD = 1500;
/** A packet is resent at most once in 1.5 round trips, within these bounds (ms). */
const RESEND_WINDOW_MS = 50;
const RESEND_WINDOW_MAX_MS = 250;

export interface LeanSenderStats {
  sent: number;
  /** Not sent: the sender or DTLS not ready, or no ICE consent. */
  dropped: number;
  /** Sequence numbers asked for by NACKs. */
  nacked: number;
  retransmitted: number;
  /** Asked for again within the resend window (not resent). */
  nackIgnored: number;
  /** Configurations read from werift (first one, renegotiation, ICE restart, DTLS re-key). */
  reconfigurations: number;
}

/**
 * One viewer's send path beside werift's `RTCRtpSender`: per packet, a prebuilt RTP header
 * is patched (sequence number, timestamp, marker, abs-send-time, transport-wide sequence
 * number), encrypted with reused node:crypto objects, and handed to the ICE socket with one
 * `send`. werift keeps everything else: ICE and consent, DTLS, SRTCP receive (NACK and PLI
 * reach us through the sender's events), and the RTCP sender reports, whose counters this
 * path updates as `dispatchRtp` would.
 *
 * Everything it needs is read from the sender's objects before each packet is sent, by
 * identity: a renegotiation (payload type, extension ids, mid), an ICE restart (the
 * nominated pair) or a DTLS re-key (a new `dtlsTransport.srtp`) is picked up at the next
 * packet.
 */
export class LeanSender {
  readonly stats: LeanSenderStats = { sent: 0, dropped: 0, nacked: 0, retransmitted: 0, nackIgnored: 0, reconfigurations: 0 };
  private readonly s: SenderInternals;
  private closed = false;
  private readonly nackSub: { unSubscribe(): void };

  // What the current configuration was read from.
  private dtls?: DtlsInternals;
  private srtp?: DtlsInternals['srtp'];
  private pair?: PairInternals;
  private pt = -1;
  private exts?: SenderInternals['headerExtensions'];
  private ssrc = -1;
  private mid?: string;
  private rtxPt?: number;

  // Derived from it.
  private protector?: SrtpProtector;
  private mediaRoc = new RolloverCounter();
  private rtxRoc = new RolloverCounter();
  private template: Buffer = Buffer.alloc(0);
  private absAt = -1;
  private twccAt = -1;
  private socket?: Socket;
  private transport?: { closed?: boolean };
  private host = '';
  private port = 0;
  private generation = 0;

  // Output buffers.
  private bufSize = 0;
  private readonly ring: Buffer[] = [];
  private readonly ring32: Int32Array[] = [];
  private readonly ringGen: number[] = [];
  private ringPos = 0;
  private inFlight = 0;
  private readonly onSent = (): void => {
    this.inFlight--;
  };

  // NACK history: this viewer's sequence number -> source history index and timestamp.
  private history?: PacketHistory;
  private readonly sentSeq = new Int32Array(SENT_SLOTS).fill(-1);
  private readonly sentIndex = new Int32Array(SENT_SLOTS);
  private readonly sentTs = new Uint32Array(SENT_SLOTS);
  /** When each slot was last resent (ms): a repeated NACK within the window is not answered. */
  private readonly resentAt = new Float64Array(SENT_SLOTS);
  private newestIndex = -1;
  private rtcpStarted = false;

  constructor(sender: RTCRtpSender) {
    this.s = sender as unknown as SenderInternals;
    // werift answers NACKs from its own cache, which only its send path fills; ours answers.
    this.nackSub = this.s.onGenericNack.subscribe((f) => this.onNack(f.lost));
  }

  /** The sink for `MediaSource.subscribe`: one call per packet (live or replayed). */
  readonly deliver = (packet: RtpPacket, shared?: SharedPacket): void => {
    if (this.closed) return;
    if (!this.sync() || !this.dtls!.iceTransport.connection.canSendApplicationData()) {
      this.stats.dropped++;
      return;
    }
    // A sink fed without the source's preparation (not through MediaSource) still works; such
    // a packet cannot be resent on NACK.
    if (!shared) {
      const ntp = ntpNow();
      shared = new SharedPacket(-1, packet, ntp, absSendTime(ntp));
    }
    this.history ??= shared.history;
    const h = packet.header;
    const seq = h.sequenceNumber;
    const ts = h.timestamp >>> 0;
    const length = shared.payload.length;
    const slot = this.nextOut(length);
    const buf = typeof slot === 'number' ? this.ring[slot] : slot;
    this.writeVariable(buf, shared.marker, this.pt, seq, ts, shared.absSendTime);
    const index = this.mediaRoc.index(seq);
    const size = this.protector!.protectShared(buf, this.words(slot, buf), this.template.length, shared, this.ssrc, index);
    this.transmit(buf, size, slot);

    const at = seq & (SENT_SLOTS - 1);
    this.sentSeq[at] = seq;
    this.sentIndex[at] = shared.index;
    this.sentTs[at] = ts;
    const s = this.s;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.octetCount += length;
    s.headerBytesSent += this.template.length;
    // Sender reports pair the NTP time of a packet's publish with its RTP timestamp; a
    // replayed (older) packet has an old publish time, so only the newest count.
    if (shared.index >= this.newestIndex) {
      this.newestIndex = shared.index;
      s.rtpTimestamp = ts;
      s.ntpTimestamp = shared.ntp;
    }
    this.stats.sent++;
    if (!this.rtcpStarted) {
      this.rtcpStarted = true;
      void s.runRtcp();
    }
  };

  /** Stops sending and drops the NACK listener. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.nackSub.unSubscribe();
    this.ring.length = 0;
    this.ring32.length = 0;
    this.history = undefined;
    this.socket = undefined;
    this.protector = undefined;
  }

  // --- configuration -----------------------------------------------------------------

  /** Whether werift's sender can send now; re-reads its configuration when it changed. */
  private sync(): boolean {
    const s = this.s;
    const dtls = s.dtlsTransport;
    if (s.stopped || !s.codec || !dtls || dtls.state !== 'connected') return false;
    const srtp = dtls.srtp;
    const pair = dtls.iceTransport.connection.nominated;
    if (!srtp || !pair) return false;
    if (
      dtls !== this.dtls ||
      srtp !== this.srtp ||
      pair !== this.pair ||
      s.codec.payloadType !== this.pt ||
      s.headerExtensions !== this.exts ||
      s.ssrc !== this.ssrc ||
      s.mid !== this.mid ||
      s.rtxPayloadType !== this.rtxPt
    ) {
      this.configure(dtls, srtp, pair);
    }
    return this.protector !== undefined;
  }

  private configure(dtls: DtlsInternals, srtp: NonNullable<DtlsInternals['srtp']>, pair: PairInternals): void {
    const s = this.s;
    this.stats.reconfigurations++;
    if (srtp !== this.srtp || dtls !== this.dtls) {
      // New keys: a new SRTP context at the receiver too, so the rollover counters restart.
      const c = srtp.localContext;
      try {
        this.protector = createProtector({
          profile: c.profile,
          key: c.srtpSessionKey,
          salt: c.srtpSessionSalt,
          authKey: c.srtpSessionAuthTag,
        });
      } catch {
        this.protector = undefined;
      }
      this.mediaRoc = new RolloverCounter();
      this.rtxRoc = new RolloverCounter();
    }
    this.dtls = dtls;
    this.srtp = srtp;
    this.pair = pair;
    this.pt = s.codec!.payloadType;
    this.exts = s.headerExtensions;
    this.ssrc = s.ssrc;
    this.mid = s.mid;
    this.rtxPt = s.rtxPayloadType;
    const udp = pair.protocol.type === 'stun' ? pair.protocol.transport : undefined;
    this.transport = udp;
    this.socket = udp?.socket;
    [this.host, this.port] = pair.remoteAddr;
    const built = buildHeader(this.ssrc, this.pt, this.exts, this.mid);
    this.template = built.header;
    this.absAt = built.absAt;
    this.twccAt = built.twccAt;
    this.generation++;
  }

  // --- output ------------------------------------------------------------------------

  /**
   * An output buffer with the current header template: the next ring slot (its index), or a
   * fresh buffer when every slot is still with dgram (a burst: a replay, NACKs).
   */
  private nextOut(payloadLength: number): number | Buffer {
    const need = OUT_HEAD + this.template.length + payloadLength + 2 + 20;
    if (need > this.bufSize) {
      this.bufSize = Math.max(need, OUT_HEAD + this.template.length + DEFAULT_MAX_PAYLOAD + 22);
      this.ringGen.fill(-1);
      this.ring.length = 0;
      this.ring32.length = 0;
    }
    if (this.inFlight >= RING) return this.freshBuffer();
    const slot = this.ringPos;
    this.ringPos = (slot + 1) % RING;
    if (this.ring[slot] === undefined || this.ring[slot].length < this.bufSize) {
      const b = Buffer.allocUnsafeSlow(this.bufSize);
      this.ring[slot] = b;
      this.ring32[slot] = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
      this.ringGen[slot] = -1;
    }
    if (this.ringGen[slot] !== this.generation) {
      this.stamp(this.ring[slot]);
      this.ringGen[slot] = this.generation;
    }
    return slot;
  }

  /** Returns the ring slot just taken by `nextOut` (its packet was not handed to dgram). */
  private giveBack(slot: number | Buffer): void {
    if (typeof slot === 'number') this.ringPos = slot;
  }

  private freshBuffer(): Buffer {
    const b = Buffer.allocUnsafeSlow(this.bufSize);
    this.stamp(b);
    return b;
  }

  private stamp(b: Buffer): void {
    this.protector!.prepare(b);
    this.template.copy(b, OUT_HEAD);
  }

  private words(slot: number | Buffer, buf: Buffer): Int32Array {
    return typeof slot === 'number' ? this.ring32[slot] : new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  }

  /** Patches the per-packet fields of the header template in `b`. */
  private writeVariable(b: Buffer, marker: boolean, pt: number, seq: number, ts: number, abs: number): void {
    b[OUT_HEAD + 1] = (marker ? 0x80 : 0) | pt;
    b[OUT_HEAD + 2] = seq >> 8;
    b[OUT_HEAD + 3] = seq & 0xff;
    b.writeUInt32BE(ts, OUT_HEAD + 4);
    if (this.absAt >= 0) {
      const a = OUT_HEAD + this.absAt;
      b[a] = abs >> 16;
      b[a + 1] = (abs >> 8) & 0xff;
      b[a + 2] = abs & 0xff;
    }
    if (this.twccAt >= 0) {
      // Shared by every sender on the transport (werift's own senders too), in send order.
      const dtls = this.dtls!;
      const wide = (dtls.transportSequenceNumber + 1) & 0xffff;
      dtls.transportSequenceNumber = wide;
      b[OUT_HEAD + this.twccAt] = wide >> 8;
      b[OUT_HEAD + this.twccAt + 1] = wide & 0xff;
    }
  }

  /**
   * Sends a packet from an output buffer. A ring slot stays busy until dgram's callback; one
   * that is not handed to dgram goes back at once, so that the busy slots are always the last
   * `inFlight` taken (sends complete in order), which is what makes `nextOut` safe.
   */
  private transmit(buf: Buffer, size: number, slot: number | Buffer): void {
    const dtls = this.dtls!;
    const loss = dtls.config.debug?.outboundPacketLoss;
    // werift's debug option, with werift's meaning: `95` sends 95 % (drops about 5 %).
    if (loss && loss / 100 < Math.random()) return this.giveBack(slot);
    const pair = this.pair!;
    if (this.socket) {
      if (this.transport?.closed) return this.giveBack(slot);
      try {
        if (typeof slot === 'number') {
          this.inFlight++;
          this.socket.send(buf, OUT_HEAD, size, this.port, this.host, this.onSent);
        } else {
          this.socket.send(buf, OUT_HEAD, size, this.port, this.host);
        }
      } catch {
        // The socket closed under us (the session is closing): the packet is lost, like werift's.
        if (typeof slot === 'number') this.inFlight--;
        return this.giveBack(slot);
      }
    } else {
      // ICE over TCP or TURN: werift's own send (framing, relaying), with a copy it may keep.
      void dtls.iceTransport.connection.send(Buffer.from(buf.subarray(OUT_HEAD, OUT_HEAD + size))).catch(() => undefined);
      this.giveBack(slot);
    }
    dtls.bytesSent += size;
    dtls.packetsSent++;
    pair.packetsSent++;
    pair.bytesSent += size;
  }

  // --- NACK ----------------------------------------------------------------------------

  private onNack(lost: number[]): void {
    if (this.closed) return;
    this.stats.nacked += lost.length;
    if (!this.history || !this.sync() || !this.dtls!.iceTransport.connection.canSendApplicationData()) return;
    // Without RTX a retransmission reuses the packet's index, and a second copy that arrives
    // is dropped by the receiver's SRTP replay check (and logged as an error); so, like
    // libwebrtc, a packet is resent at most once per round trip, and at least RESEND_WINDOW_MS
    // apart (a loaded server may answer later than the browser's next NACK, ~100 ms).
    const now = performance.now();
    const rtt = this.s.rtt;
    const window = Math.min(RESEND_WINDOW_MAX_MS, Math.max(RESEND_WINDOW_MS, rtt ? rtt * 1500 : 0));
    for (const seq of lost) {
      const at = seq & (SENT_SLOTS - 1);
      if (this.sentSeq[at] !== seq) continue;
      const shared = this.history.get(this.sentIndex[at]);
      if (!shared) continue;
      if (now - this.resentAt[at] < window) {
        this.stats.nackIgnored++;
        continue;
      }
      this.resentAt[at] = now;
      this.resend(shared, seq, this.sentTs[at]);
    }
  }

  /** Sends a packet again: as RTX when negotiated (RFC 4588), else with its own numbers. */
  private resend(shared: SharedPacket, seq: number, ts: number): void {
    const slot = this.nextOut(shared.payload.length);
    const buf = typeof slot === 'number' ? this.ring[slot] : slot;
    const now = ntpNow();
    let size: number;
    const s = this.s;
    if (this.rtxPt !== undefined) {
      const rtxSeq = s.rtxSequenceNumber & 0xffff;
      s.rtxSequenceNumber = (rtxSeq + 1) & 0xffff;
      // The same template with the RTX SSRC and payload type; the slot is re-stamped after.
      buf.writeUInt32BE(s.rtxSsrc >>> 0, OUT_HEAD + 8);
      this.writeVariable(buf, shared.marker, this.rtxPt, rtxSeq, ts, absSendTime(now));
      const plain = Buffer.allocUnsafe(shared.payload.length + 2);
      plain.writeUInt16BE(seq, 0);
      shared.payload.copy(plain, 2);
      size = this.protector!.protect(buf, this.template.length, plain, s.rtxSsrc >>> 0, this.rtxRoc.index(rtxSeq));
      if (typeof slot === 'number') this.ringGen[slot] = -1;
    } else {
      this.writeVariable(buf, shared.marker, this.pt, seq, ts, absSendTime(now));
      size = this.protector!.protect(buf, this.template.length, shared.payload, this.ssrc, this.mediaRoc.index(seq));
    }
    this.transmit(buf, size, slot);
    s.retransmittedPacketsSent++;
    s.retransmittedBytesSent += shared.payload.length;
    s.headerBytesSent += this.template.length;
    this.stats.retransmitted++;
  }
}

/**
 * The RTP header template: V=2, the header extensions the sender negotiated that this path
 * writes (sdes:mid, abs-send-time, transport-wide-cc), one-byte form (RFC 8285) when every id
 * and length fits, else two-byte. Returns where abs-send-time and the transport-wide
 * sequence number sit (-1: not negotiated).
 */
export function buildHeader(
  ssrc: number,
  payloadType: number,
  extensions: readonly { uri: string; id: number }[],
  mid: string | undefined,
): { header: Buffer; absAt: number; twccAt: number } {
  const elements: { id: number; data: Buffer; kind: 'abs' | 'twcc' | 'mid' }[] = [];
  for (const e of extensions) {
    if (e.uri === RTP_EXTENSION_URI.sdesMid && mid) elements.push({ id: e.id, data: Buffer.from(mid, 'utf8'), kind: 'mid' });
    else if (e.uri === RTP_EXTENSION_URI.absSendTime) elements.push({ id: e.id, data: Buffer.alloc(3), kind: 'abs' });
    else if (e.uri === RTP_EXTENSION_URI.transportWideCC) elements.push({ id: e.id, data: Buffer.alloc(2), kind: 'twcc' });
  }
  elements.sort((a, b) => a.id - b.id);
  const oneByte = elements.every((e) => e.id >= 1 && e.id <= 14 && e.data.length >= 1 && e.data.length <= 16);
  const perElement = oneByte ? 1 : 2;
  const body = elements.reduce((n, e) => n + perElement + e.data.length, 0);
  const padded = (body + 3) & ~3;
  const header = Buffer.alloc(12 + (elements.length ? 4 + padded : 0));
  header[0] = elements.length ? 0x90 : 0x80;
  header[1] = payloadType & 0x7f;
  header.writeUInt32BE(ssrc >>> 0, 8);
  let absAt = -1;
  let twccAt = -1;
  if (elements.length) {
    header.writeUInt16BE(oneByte ? 0xbede : 0x1000, 12);
    header.writeUInt16BE(padded / 4, 14);
    let at = 16;
    for (const e of elements) {
      if (oneByte) header[at++] = (e.id << 4) | (e.data.length - 1);
      else {
        header[at++] = e.id;
        header[at++] = e.data.length;
      }
      if (e.kind === 'abs') absAt = at;
      if (e.kind === 'twcc') twccAt = at;
      e.data.copy(header, at);
      at += e.data.length;
    }
  }
  return { header, absAt, twccAt };
}
