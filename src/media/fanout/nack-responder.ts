import { patchHeader } from './header-template';
import type { Output } from './output';
import type { SenderConfig } from './sender-config';
import { absSendTime, ntpNow, PacketHistory, SharedPacket } from './shared-packet';
import { OUT_HEAD } from './srtp';
import type { SenderInternals } from './werift-internals';

/**
 * Per-viewer map from its sequence numbers to the source history (NACK lookups): 512 packets,
 * about 4 s at 1 Mbps, far longer than a browser keeps asking (libwebrtc gives up on a
 * packet after about a second).
 */
const SENT_SLOTS = 512;
/** A packet is resent at most once in 1.5 round trips, within these bounds (ms). */
const RESEND_WINDOW_MS = 50;
const RESEND_WINDOW_MAX_MS = 250;

/** What the responder counts (part of `LeanSenderStats`). */
export interface NackStats {
  /** Sequence numbers asked for by NACKs. */
  nacked: number;
  retransmitted: number;
  /** Asked for again within the resend window (not resent). */
  nackIgnored: number;
}

/**
 * Answers one viewer's NACKs (werift parses them; its own cache, which only its send path
 * fills, stays empty) from the source's shared packet history: per viewer only a map from
 * its sequence numbers to history indices and timestamps. Resends as RTX when negotiated
 * (RFC 4588), else the packet again with its own numbers.
 */
export class NackResponder {
  private history?: PacketHistory;
  /** Each slot's sequence number (-1: none yet), history index, timestamp, last resend (ms). */
  private readonly sentSeq = new Int32Array(SENT_SLOTS).fill(-1);
  private readonly sentIndex = new Int32Array(SENT_SLOTS);
  private readonly sentTs = new Uint32Array(SENT_SLOTS);
  /**
   * When each slot was last resent, in whole ms of `performance.now()` (fits 24 days): a
   * repeated NACK within the window is not answered.
   */
  private readonly resentAt = new Int32Array(SENT_SLOTS).fill(-0x80000000);

  constructor(
    private readonly s: SenderInternals,
    private readonly c: SenderConfig,
    private readonly out: Output,
    private readonly stats: NackStats,
  ) {}

  /** Notes a packet sent live (or replayed) under this viewer's `seq` and `ts`. */
  sent(shared: SharedPacket, seq: number, ts: number): void {
    this.history ??= shared.history;
    const at = seq & (SENT_SLOTS - 1);
    this.sentSeq[at] = seq;
    this.sentIndex[at] = shared.index;
    this.sentTs[at] = ts;
  }

  onNack(lost: number[]): void {
    this.stats.nacked += lost.length;
    if (!this.history || !this.c.canSend()) return;
    // Without RTX a retransmission reuses the packet's index, and a second copy that arrives
    // is dropped by the receiver's SRTP replay check (and logged as an error); so, like
    // libwebrtc, a packet is resent at most once per round trip, and at least RESEND_WINDOW_MS
    // apart (a loaded server may answer later than the browser's next NACK, ~100 ms).
    const now = performance.now() | 0;
    const rtt = this.s.rtt;
    const window = Math.min(RESEND_WINDOW_MAX_MS, Math.max(RESEND_WINDOW_MS, rtt ? rtt * 1500 : 0));
    for (const seq of lost) {
      const at = seq & (SENT_SLOTS - 1);
      if (this.sentSeq[at] !== seq) continue;
      const shared = this.history.get(this.sentIndex[at]);
      if (!shared) continue;
      if (this.resentAt[at] !== -0x80000000 && now - this.resentAt[at] < window) {
        this.stats.nackIgnored++;
        continue;
      }
      this.resentAt[at] = now;
      this.resend(shared, seq, this.sentTs[at]);
    }
  }

  clear(): void {
    this.history = undefined;
  }

  /** Sends a packet again: as RTX when negotiated (RFC 4588), else with its own numbers. */
  private resend(shared: SharedPacket, seq: number, ts: number): void {
    const c = this.c;
    const buf = this.out.next(shared.payload.length);
    const abs = absSendTime(ntpNow());
    const t = c.template;
    let size: number;
    const s = this.s;
    if (c.rtxPt !== undefined) {
      const rtxSeq = s.rtxSequenceNumber & 0xffff;
      s.rtxSequenceNumber = (rtxSeq + 1) & 0xffff;
      // The same template with the RTX SSRC and payload type (the next packet writes its own).
      buf.writeUInt32BE(s.rtxSsrc >>> 0, OUT_HEAD + 8);
      patchHeader(buf, OUT_HEAD, t, shared.marker, c.rtxPt, rtxSeq, ts, abs, c.dtls!);
      const plain = Buffer.allocUnsafe(shared.payload.length + 2);
      plain.writeUInt16BE(seq, 0);
      shared.payload.copy(plain, 2);
      size = c.protector!.protect(buf, t.header.length, plain, s.rtxSsrc >>> 0, c.rtxRoc.index(rtxSeq));
    } else {
      patchHeader(buf, OUT_HEAD, t, shared.marker, c.pt, seq, ts, abs, c.dtls!);
      size = c.protector!.protect(buf, t.header.length, shared.payload, c.ssrc, c.mediaRoc.index(seq));
    }
    this.out.transmit(size);
    s.retransmittedPacketsSent++;
    s.retransmittedBytesSent += shared.payload.length;
    s.headerBytesSent += t.header.length;
    this.stats.retransmitted++;
  }
}
