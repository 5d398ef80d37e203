import { ntpNow } from './shared-packet';
import { RolloverCounter } from './srtp';

/**
 * What a viewer's RTP stream keeps across the lean senders of one werift sender. A stop and
 * resume (or a source switch) makes a new feed, hence a new `LeanSender`, on the same sender:
 * the same SSRC and, at the receiver, the same SRTP context. So the stream, not the feed, owns
 * - the rollover counters (RFC 3711 3.3.1): the receiver estimates each packet's index from
 *   its own counter; one restarted at 0 after a 16-bit wrap makes every packet fail
 *   authentication, and the viewer sees no video again;
 * - the last sequence number and timestamp sent, so the next feed runs on from them
 *   (RFC 3550 5.1; werift's own path does the same in `replaceTrack`): a jump back would be
 *   dropped as replays by the receiver's SRTP window.
 */
export class SenderStream {
  private static readonly streams = new WeakMap<object, SenderStream>();

  /** The stream of a werift sender (made on first use, dropped with the sender). */
  static of(sender: object): SenderStream {
    let s = SenderStream.streams.get(sender);
    if (!s) SenderStream.streams.set(sender, (s = new SenderStream()));
    return s;
  }

  /** The SRTP session the counters belong to (new keys: the receiver starts again at 0). */
  private keys?: object;
  mediaRoc = new RolloverCounter();
  rtxRoc = new RolloverCounter();
  /** The last packet sent on the stream: its numbers and its publish time (NTP, as `SharedPacket.ntp`). */
  last?: { seq: number; ts: number; ntp: bigint };

  /** The counters for these keys: kept while the keys are the same, new ones with new keys. */
  useKeys(keys: object): void {
    if (keys === this.keys) return;
    this.keys = keys;
    this.mediaRoc = new RolloverCounter();
    this.rtxRoc = new RolloverCounter();
  }

  /**
   * The offsets that make a new feed run on from the last packet sent: the next sequence
   * number, and the timestamp advanced by the wall time since (at least one tick), so that
   * the RTP clock keeps matching the sender reports' NTP time.
   */
  continueFrom(seq: number, ts: number, clockRate: number, now = ntpNow()): { seq: number; ts: number } {
    const last = this.last;
    if (!last) return { seq: 0, ts: 0 };
    // NTP is 32.32 fixed point: seconds since the last packet's publish, times the clock rate.
    const step = Math.max(1, Math.round((Number(now - last.ntp) / 0x1_0000_0000) * clockRate));
    return { seq: (last.seq + 1 - seq + 0x10000) & 0xffff, ts: (last.ts + step - ts) >>> 0 };
  }
}
