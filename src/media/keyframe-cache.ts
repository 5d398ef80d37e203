import type { RtpPacket } from 'werift';

/**
 * Holds the packets of the current group of pictures: the latest keyframe and every packet
 * after it. A new viewer is sent these first, so its first frame never waits for the
 * source's next keyframe.
 */
export class KeyframeCache {
  private packets: RtpPacket[] = [];
  private bytes = 0;
  private valid = false;

  constructor(private readonly maxBytes = 8 * 1024 * 1024) {}

  /** Call for every packet in order; `keyframeStart` marks the first packet of a keyframe. */
  push(packet: RtpPacket, keyframeStart: boolean): void {
    if (keyframeStart) {
      this.packets = [];
      this.bytes = 0;
      this.valid = true;
    }
    if (!this.valid) return;
    this.packets.push(packet);
    this.bytes += packet.payload.length;
    if (this.bytes > this.maxBytes) {
      // A GOP this large cannot be replayed usefully; wait for the next keyframe.
      this.clear();
    }
  }

  clear(): void {
    this.packets = [];
    this.bytes = 0;
    this.valid = false;
  }

  /** The cached packets, oldest first (empty until the first keyframe). */
  snapshot(): readonly RtpPacket[] {
    return this.packets;
  }

  get size(): number {
    return this.packets.length;
  }
}
