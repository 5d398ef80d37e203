import { RtpHeader, RtpPacket } from 'werift';
import { MediaSource } from '../../media-source';

/**
 * A source whose packets a test pushes by hand (no socket, no timer): the unit tests'
 * stand-in for a camera. It counts keyframe requests and answers them with `canMakeKeyframes`.
 */
export class ManualSource extends MediaSource {
  readonly kind = 'manual';
  readonly codec = 'VP8' as const;
  keyframeRequests = 0;
  canMakeKeyframes = false;

  constructor(readonly id = 'manual') {
    super();
  }

  protected start(): void {}
  protected stop(): void {}

  /** Publishes a one-byte VP8 packet with these numbers. */
  push(seq: number, ts: number, key: boolean, marker = true): void {
    this.pushPacket(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, marker, payloadType: 96 }), Buffer.from([seq & 0xff])), key);
  }

  pushPacket(packet: RtpPacket, key: boolean): void {
    this.publish(packet, key);
  }

  /** The source ends (as a file that played once does). */
  finish(): void {
    this.end('source-ended');
  }

  override requestKeyframe(): boolean {
    this.keyframeRequests++;
    return this.canMakeKeyframes;
  }
}
