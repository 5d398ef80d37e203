import type { SharedPacket } from './shared-packet';
import type { SenderInternals } from './werift-internals';

/**
 * The counters werift's RTCP sender reports read (`runRtcp`: packetCount, octetCount,
 * rtpTimestamp, ntpTimestamp), updated per packet as `dispatchRtp` would, and werift's RTCP
 * loop started once, at the first packet sent. Octets are payload bytes, as werift counts them.
 */
export class SenderReportCounters {
  private newestIndex = -1;
  private started = false;

  constructor(private readonly s: SenderInternals) {}

  sent(shared: SharedPacket, ts: number, headerLength: number): void {
    const s = this.s;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.octetCount += shared.payload.length;
    s.headerBytesSent += headerLength;
    // Sender reports pair the NTP time of a packet's publish with its RTP timestamp; a
    // replayed (older) packet has an old publish time, so only the newest count.
    if (shared.index >= this.newestIndex) {
      this.newestIndex = shared.index;
      s.rtpTimestamp = ts;
      s.ntpTimestamp = shared.ntp;
    }
    if (!this.started) {
      this.started = true;
      void s.runRtcp();
    }
  }
}
