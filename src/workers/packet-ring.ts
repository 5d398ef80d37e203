/**
 * One source's packets in shared memory: the main thread writes each packet once, every media
 * worker reads it (fanout-performance.md, "Using every core": 1.3-4.6 us of the main thread
 * per source packet, against a postMessage copy per worker).
 *
 * Layout of the SharedArrayBuffer: a header of Int32 (next sequence, oldest valid sequence,
 * last keyframe start, next byte), a table of slots (offset, length, flags), and a byte ring.
 * Packets are written in order around the byte ring; the writer moves the oldest valid
 * sequence past every slot it is about to overwrite *before* writing, and a reader checks it
 * again after copying, so a reader that fell a lap behind skips packets instead of reading torn
 * ones. The last keyframe start is kept too: a worker that starts (or restarts) reads from
 * there, so its keyframe cache holds the source's current group of pictures at once.
 *
 * Sequences are Int32 and compared by difference, so they may wrap (after 2^31 packets).
 */
const WRITE = 0;
const TAIL = 1;
const KEYFRAME = 2;
const DATA_POS = 3;
const HEADER_INTS = 4;
const SLOT_INTS = 3;
const FLAG_KEYFRAME = 1;

export interface RingLayout {
  /** Slots in the table (a power of two): at most this many packets are readable at once. */
  slots: number;
  /** Bytes of the data ring; a packet longer than a quarter of it is refused. */
  bytes: number;
}

/** Enough for a group of pictures the keyframe cache keeps (8 MB) with room for readers to lag. */
export const DEFAULT_RING: RingLayout = { slots: 16384, bytes: 12 * 1024 * 1024 };

/** A source's audio (Opus, ~50 packets/s of a few hundred bytes): about 20 s; no keyframes. */
export const AUDIO_RING: RingLayout = { slots: 1024, bytes: 512 * 1024 };

export interface RingPacket {
  seq: number;
  data: Buffer;
  keyframe: boolean;
}

class RingView {
  readonly header: Int32Array;
  readonly meta: Int32Array;
  readonly data: Uint8Array;
  readonly slots: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_INTS);
    const slots = new Int32Array(buffer, HEADER_INTS * 4, 1)[0];
    this.slots = slots;
    this.meta = new Int32Array(buffer, (HEADER_INTS + 1) * 4, slots * SLOT_INTS);
    const dataStart = (HEADER_INTS + 1 + slots * SLOT_INTS) * 4;
    this.data = new Uint8Array(buffer, dataStart, buffer.byteLength - dataStart);
  }
}

export function createRingBuffer(layout: RingLayout = DEFAULT_RING): SharedArrayBuffer {
  if (layout.slots < 2 || (layout.slots & (layout.slots - 1)) !== 0) throw new Error('ring slots must be a power of two');
  const buffer = new SharedArrayBuffer((HEADER_INTS + 1 + layout.slots * SLOT_INTS) * 4 + layout.bytes);
  new Int32Array(buffer, HEADER_INTS * 4, 1)[0] = layout.slots;
  new Int32Array(buffer, 0, HEADER_INTS)[KEYFRAME] = -1;
  return buffer;
}

/** The main thread's side: one writer per source. */
export class PacketRingWriter {
  private readonly v: RingView;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.v = new RingView(buffer);
  }

  /** Writes one packet and wakes the readers; false when it is too large for the ring. */
  write(packet: Uint8Array, keyframe: boolean): boolean {
    const { header, meta, data, slots } = this.v;
    const len = packet.length;
    if (len > data.length >> 2) return false;
    const seq = header[WRITE];
    let pos = header[DATA_POS];
    let wrapFrom = -1;
    if (pos + len > data.length) {
      wrapFrom = pos;
      pos = 0;
    }
    // Invalidate, oldest first, every slot this write (and the gap it skips at the end) covers.
    let tail = header[TAIL];
    while (tail !== seq) {
      const s = (tail & (slots - 1)) * SLOT_INTS;
      const off = meta[s];
      const end = off + meta[s + 1];
      const full = seq - tail >= slots;
      const overlaps = off < pos + len && end > pos;
      const inGap = wrapFrom >= 0 && end > wrapFrom;
      if (!full && !overlaps && !inGap) break;
      tail = (tail + 1) | 0;
    }
    Atomics.store(header, TAIL, tail);
    if (header[KEYFRAME] !== -1 && header[KEYFRAME] - tail < 0) Atomics.store(header, KEYFRAME, -1);
    data.set(packet, pos);
    const s = (seq & (slots - 1)) * SLOT_INTS;
    meta[s] = pos;
    meta[s + 1] = len;
    meta[s + 2] = keyframe ? FLAG_KEYFRAME : 0;
    header[DATA_POS] = pos + len;
    Atomics.store(header, WRITE, (seq + 1) | 0);
    if (keyframe) Atomics.store(header, KEYFRAME, seq);
    Atomics.notify(header, WRITE);
    return true;
  }

  /** The source stopped: a worker that starts now must not replay the old picture. */
  forgetKeyframe(): void {
    Atomics.store(this.v.header, KEYFRAME, -1);
  }

  get written(): number {
    return Atomics.load(this.v.header, WRITE);
  }
}

/** A worker's side: reads every packet in order from its position on. */
export class PacketRingReader {
  private readonly v: RingView;
  private next: number;
  /** Packets skipped because the reader fell more than the ring behind. */
  lost = 0;

  /** Starts at the last keyframe still in the ring (so the first viewer gets a picture), else at the live end. */
  constructor(buffer: SharedArrayBuffer) {
    this.v = new RingView(buffer);
    const { header } = this.v;
    const kf = Atomics.load(header, KEYFRAME);
    const tail = Atomics.load(header, TAIL);
    this.next = kf !== -1 && kf - tail >= 0 ? kf : Atomics.load(header, WRITE);
  }

  /** The next packet, or undefined when the reader is at the live end. */
  read(): RingPacket | undefined {
    const { header, meta, data, slots } = this.v;
    for (;;) {
      const write = Atomics.load(header, WRITE);
      if (write - this.next <= 0) return undefined;
      const tail = Atomics.load(header, TAIL);
      if (this.next - tail < 0) {
        this.lost += tail - this.next;
        this.next = tail;
        continue;
      }
      const seq = this.next;
      const s = (seq & (slots - 1)) * SLOT_INTS;
      const off = meta[s];
      const len = meta[s + 1];
      const flags = meta[s + 2];
      const copy = Buffer.allocUnsafe(len);
      copy.set(data.subarray(off, off + len));
      // Overwritten while copying: skip it (counted as lost).
      if (seq - Atomics.load(header, TAIL) < 0) continue;
      this.next = (seq + 1) | 0;
      return { seq, data: copy, keyframe: (flags & FLAG_KEYFRAME) !== 0 };
    }
  }

  /** Resolves when a packet past the reader's position is written (at once if one is there). */
  waitAsync(): Promise<unknown> | undefined {
    const { header } = this.v;
    const waiter = (Atomics as unknown as {
      waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> | string };
    }).waitAsync(header, WRITE, this.next);
    return waiter.async ? (waiter.value as Promise<unknown>) : undefined;
  }
}
