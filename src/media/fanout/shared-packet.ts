import type { RtpPacket } from 'werift';

/** Milliseconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_EPOCH_OFFSET_MS = 2_208_988_800_000;

/** The current time as a 64-bit NTP timestamp (RFC 3550 section 4): seconds . 2^-32 s. */
export function ntpNow(nowMs = performance.timeOrigin + performance.now()): bigint {
  const ms = nowMs + NTP_EPOCH_OFFSET_MS;
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  return (BigInt(seconds) << 32n) | BigInt(fraction >>> 0);
}

/** abs-send-time (webrtc.org extension): 6.18 fixed-point seconds, 24 bits, from an NTP timestamp. */
export function absSendTime(ntp: bigint): number {
  return Number((ntp >> 14n) & 0xffffffn);
}

/**
 * One source packet prepared once for every viewer of the lean send path: the payload copied
 * into a 4-byte-aligned buffer with an `Int32Array` view (so each viewer's SRTP XORs words,
 * not bytes), the send times, and its slot in the source's packet history.
 */
export class SharedPacket {
  /** The payload, exactly `packet.payload.length` bytes, at a 4-byte-aligned offset. */
  readonly payload: Buffer;
  /** The payload as words; its last word may run up to 3 bytes past the payload (zeroes). */
  readonly words: Int32Array;
  readonly marker: boolean;

  constructor(
    /** Position in the source's history (increases by one per packet published). */
    readonly index: number,
    readonly packet: RtpPacket,
    /** NTP time of the publish, shared by every viewer's sender report. */
    readonly ntp: bigint,
    /** abs-send-time of the publish (24 bits). */
    readonly absSendTime: number,
    /** The history that holds it (NACKs are answered from there). */
    readonly history?: PacketHistory,
  ) {
    const length = packet.payload.length;
    const backing = Buffer.allocUnsafeSlow((length + 3) & ~3);
    backing.fill(0, length & ~3);
    packet.payload.copy(backing);
    this.payload = backing.subarray(0, length);
    this.words = new Int32Array(backing.buffer, backing.byteOffset, backing.length >> 2);
    this.marker = packet.header.marker;
  }
}

/**
 * The last `size` packets a source published, shared by all its viewers: a NACK is answered
 * from here (each viewer keeps only a map from its own sequence numbers to indices).
 */
export class PacketHistory {
  private readonly slots: (SharedPacket | undefined)[];
  private readonly mask: number;
  private next = 0;

  constructor(size = 1024) {
    if (size < 1 || (size & (size - 1)) !== 0) throw new Error('history size must be a power of two');
    this.slots = new Array<SharedPacket | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  /** Prepares a packet for the lean path and keeps it. */
  push(packet: RtpPacket, ntp = ntpNow()): SharedPacket {
    const shared = new SharedPacket(this.next, packet, ntp, absSendTime(ntp), this);
    this.slots[this.next & this.mask] = shared;
    this.next++;
    return shared;
  }

  /** The packet at `index`, or undefined once the history has moved past it. */
  get(index: number): SharedPacket | undefined {
    const p = this.slots[index & this.mask];
    return p?.index === index ? p : undefined;
  }

  clear(): void {
    this.slots.fill(undefined);
  }
}
