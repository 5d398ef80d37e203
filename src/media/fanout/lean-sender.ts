import type { RTCRtpSender, RtpPacket } from 'werift';
import { patchHeader } from './header-template';
import { NackResponder, NackStats } from './nack-responder';
import { Output, OutputStats } from './output';
import { SenderConfig } from './sender-config';
import { SenderReportCounters } from './sender-report';
import { absSendTime, ntpNow, SharedPacket } from './shared-packet';
import type { SenderInternals } from './werift-internals';
import type { NumberedSink } from '../source-track';

export { buildHeader } from './header-template';

export interface LeanSenderStats extends NackStats, OutputStats {
  sent: number;
  /** Not sent: the sender or DTLS not ready, or no ICE consent. */
  dropped: number;
  /** Configurations read from werift (first one, renegotiation, ICE restart, DTLS re-key). */
  reconfigurations: number;
}

/**
 * One viewer's send path beside werift's `RTCRtpSender` (one per sender: a session with
 * several tracks has one per track): per packet, a prebuilt RTP header is patched (sequence
 * number, timestamp, marker, abs-send-time, transport-wide sequence number), encrypted with
 * reused node:crypto objects, and handed to the ICE socket with one `send`. werift keeps
 * everything else: ICE and consent, DTLS, SRTCP receive (NACK and PLI reach us through the
 * sender's events), and the RTCP sender reports, whose counters this path updates as
 * `dispatchRtp` would.
 *
 * Its parts: `SenderConfig` (what is read from werift's objects, re-read when they change),
 * `Output` (output buffers and the send), `NackResponder` (NACK/RTX from the source's shared
 * history), `SenderReportCounters` (what werift's sender reports read).
 */
export class LeanSender {
  private readonly statsNow: LeanSenderStats = {
    sent: 0,
    dropped: 0,
    nacked: 0,
    retransmitted: 0,
    nackIgnored: 0,
    reconfigurations: 0,
    queued: 0,
    segmented: 0,
    sendErrors: 0,
    bytes: 0,
  };
  private readonly s: SenderInternals;
  private closed = false;
  private readonly config: SenderConfig;
  private readonly out: Output;
  private readonly nack: NackResponder;
  private readonly report: SenderReportCounters;
  private readonly nackSub: { unSubscribe(): void };
  /** Added to the feed's numbers so that they run on from the stream's last packet (see SenderStream); set at the first packet. */
  private shift?: { seq: number; ts: number };

  constructor(sender: RTCRtpSender) {
    this.s = sender as unknown as SenderInternals;
    this.config = new SenderConfig(this.s);
    this.out = new Output(this.config, this.statsNow);
    this.nack = new NackResponder(this.s, this.config, this.out, this.statsNow);
    this.report = new SenderReportCounters(this.s);
    // werift answers NACKs from its own cache, which only its send path fills; ours answers.
    this.nackSub = this.s.onGenericNack.subscribe((f) => {
      if (!this.closed) this.nack.onNack(f.lost);
    });
  }

  get stats(): LeanSenderStats {
    this.statsNow.reconfigurations = this.config.reconfigurations;
    return this.statsNow;
  }

  /**
   * The sink for `MediaSource.subscribe`: one call per packet (live or replayed), with this
   * viewer's sequence number and timestamp (else the packet header's).
   */
  readonly deliver: NumberedSink = Object.assign(
    (packet: RtpPacket, shared?: SharedPacket, seq?: number, timestamp?: number) => this.send(packet, shared, seq, timestamp),
    {
      takesNumbers: true as const,
      // A batch's packets may be held and sent together when it ends (see Output.sendLive).
      beginBatch: () => {
        if (!this.closed) this.out.beginBatch();
      },
      endBatch: () => this.out.endBatch(),
    },
  );

  private send(packet: RtpPacket, shared?: SharedPacket, outSeq?: number, outTs?: number): void {
    if (this.closed) return;
    const c = this.config;
    if (!c.canSend()) {
      this.statsNow.dropped++;
      return;
    }
    // A sink fed without the source's preparation (not through MediaSource) still works; such
    // a packet cannot be resent on NACK.
    if (!shared) {
      const ntp = ntpNow();
      shared = new SharedPacket(-1, packet, ntp, absSendTime(ntp));
    }
    let seq = outSeq ?? packet.header.sequenceNumber;
    let ts = (outTs ?? packet.header.timestamp) >>> 0;
    const shift = (this.shift ??= c.stream.continueFrom(seq, ts, this.s.codec!.clockRate ?? 90_000));
    seq = (seq + shift.seq) & 0xffff;
    ts = (ts + shift.ts) >>> 0;
    const t = c.template;
    // Patched in the template itself (every user of it writes all the fields it varies).
    patchHeader(t.header, 0, t, shared.marker, c.pt, seq, ts, shared.absSendTime, c.dtls!);
    this.out.sendLive(shared, c.ssrc, c.mediaRoc.index(seq));
    this.nack.sent(shared, seq, ts);
    this.report.sent(shared, ts, t.header.length);
    this.statsNow.sent++;
    // No clock read per packet: the publish time the source already took serves the next feed.
    const last = (c.stream.last ??= { seq, ts, ntp: shared.ntp });
    last.seq = seq;
    last.ts = ts;
    last.ntp = shared.ntp;
  }

  /** Stops sending and drops the NACK listener. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.nackSub.unSubscribe();
    this.out.clear();
    this.nack.clear();
    this.config.clear();
  }
}
