import { OUT_HEAD } from './srtp';
import type { SenderConfig } from './sender-config';

/** Output buffers per viewer recycled after `send` completes (dgram keeps a buffer until then). */
const RING = 4;
/** Output buffers fit a payload this large (plus RTX's 2 bytes and the tag) before they grow. */
const DEFAULT_MAX_PAYLOAD = 1500;

/** An output buffer: a ring slot's index, or a fresh buffer (every slot still with dgram). */
export type OutSlot = number | Buffer;

/**
 * One viewer's output buffers and its `send`. Each buffer holds `OUT_HEAD` bytes for the
 * SRTP protector (see `SrtpProtector.prepare`), then the header template, then room for the
 * payload and the tag; it is stamped once per configuration, so per packet only the
 * variable fields are patched.
 */
export class Output {
  private bufSize = 0;
  private readonly ring: Buffer[] = [];
  private readonly ring32: Int32Array[] = [];
  private readonly ringGen: number[] = [];
  private ringPos = 0;
  private inFlight = 0;
  private readonly onSent = (): void => {
    this.inFlight--;
  };

  constructor(private readonly c: SenderConfig) {}

  /**
   * An output buffer with the current header template: the next ring slot (its index), or a
   * fresh buffer when every slot is still with dgram (a burst: a replay, NACKs).
   */
  next(payloadLength: number): OutSlot {
    const header = this.c.template.header.length;
    const need = OUT_HEAD + header + payloadLength + 2 + 20;
    if (need > this.bufSize) {
      this.bufSize = Math.max(need, OUT_HEAD + header + DEFAULT_MAX_PAYLOAD + 22);
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
    if (this.ringGen[slot] !== this.c.generation) {
      this.stamp(this.ring[slot]);
      this.ringGen[slot] = this.c.generation;
    }
    return slot;
  }

  buffer(slot: OutSlot): Buffer {
    return typeof slot === 'number' ? this.ring[slot] : slot;
  }

  words(slot: OutSlot, buf: Buffer): Int32Array {
    return typeof slot === 'number' ? this.ring32[slot] : new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  }

  /** Marks a slot whose header was changed (RTX) to be re-stamped when next taken. */
  dirty(slot: OutSlot): void {
    if (typeof slot === 'number') this.ringGen[slot] = -1;
  }

  /**
   * Sends a packet from an output buffer. A ring slot stays busy until dgram's callback; one
   * that is not handed to dgram goes back at once, so that the busy slots are always the last
   * `inFlight` taken (sends complete in order), which is what makes `next` safe.
   */
  transmit(buf: Buffer, size: number, slot: OutSlot): void {
    const c = this.c;
    const dtls = c.dtls!;
    const loss = dtls.config.debug?.outboundPacketLoss;
    // werift's debug option, with werift's meaning: `95` sends 95 % (drops about 5 %).
    if (loss && loss / 100 < Math.random()) return this.giveBack(slot);
    const pair = c.pair!;
    if (c.socket) {
      if (c.transport?.closed) return this.giveBack(slot);
      try {
        if (typeof slot === 'number') {
          this.inFlight++;
          c.socket.send(buf, OUT_HEAD, size, c.port, c.host, this.onSent);
        } else {
          c.socket.send(buf, OUT_HEAD, size, c.port, c.host);
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

  clear(): void {
    this.ring.length = 0;
    this.ring32.length = 0;
  }

  /** Returns the ring slot just taken by `next` (its packet was not handed to dgram). */
  private giveBack(slot: OutSlot): void {
    if (typeof slot === 'number') this.ringPos = slot;
  }

  private freshBuffer(): Buffer {
    const b = Buffer.allocUnsafeSlow(this.bufSize);
    this.stamp(b);
    return b;
  }

  private stamp(b: Buffer): void {
    this.c.protector!.prepare(b);
    this.c.template.header.copy(b, OUT_HEAD);
  }
}
