import type { Socket } from 'node:dgram';
import { OUT_HEAD } from './srtp';
import type { SenderConfig } from './sender-config';
import { UdpSend } from './udp-send';

/** What the output counts (part of `LeanSenderStats`). */
export interface OutputStats {
  /** Datagrams libuv queued (the socket buffer was full; the output buffer was left to it). */
  queued: number;
  /** Sends that failed (the socket closed under us, or the kernel refused the datagram). */
  sendErrors: number;
  /** Bytes handed to the socket (SRTP packets). */
  bytes: number;
}

/** Output buffers fit a payload this large (plus RTX's 2 bytes and the tag) before they grow. */
const DEFAULT_MAX_PAYLOAD = 1500;

/**
 * The thread's output buffer, shared by every viewer's `Output`: a packet is built in it and
 * sent before the next one is, and the send copies it into the kernel at once almost always,
 * so one buffer serves all viewers and stays in the CPU's cache (one buffer per viewer meant
 * hundreds of cold 1.6 KB buffers per source packet). When libuv queued a datagram (the
 * socket buffer was full) the buffer is its until the send completes: a new one is made.
 */
class SharedOutput {
  size = 0;
  buf = Buffer.alloc(0);
  words = new Int32Array(0);
  /** The list handed to the send: one view of `buf`, cached by length (most packets are full). */
  list: Uint8Array[] = [];
  listLength = -1;

  /** Makes sure the buffer holds `need` bytes. */
  fit(need: number): void {
    if (need > this.size) {
      this.size = Math.max(need, OUT_HEAD + 64 + DEFAULT_MAX_PAYLOAD + 22);
      this.replace();
    }
  }

  /** A new buffer (the old one is libuv's, or too small). */
  replace(): void {
    const b = Buffer.allocUnsafeSlow(this.size);
    this.buf = b;
    this.words = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
    this.listLength = -1;
  }

  /** The send list for the first `size` bytes after `OUT_HEAD`. */
  listOf(size: number): Uint8Array[] {
    if (size !== this.listLength) {
      this.list = [new Uint8Array(this.buf.buffer, this.buf.byteOffset + OUT_HEAD, size)];
      this.listLength = size;
    }
    return this.list;
  }
}

const out = new SharedOutput();

/**
 * One viewer's output: its packets are built in the thread's shared output buffer (see
 * `SharedOutput`), which holds `OUT_HEAD` bytes for the SRTP protector (see
 * `SrtpProtector.prepare`), then the header template, then room for the payload and the tag.
 * `next()` writes this viewer's prefix and template into it, so per packet only the variable
 * fields are patched; `transmit()` sends it through the socket's own handle (`UdpSend`), which
 * is synchronous almost always.
 */
export class Output {
  private udp?: UdpSend;
  private udpOf?: Socket;
  constructor(
    private readonly c: SenderConfig,
    private readonly stats: OutputStats,
  ) {}

  /** The output buffer, with this viewer's prefix and header template, for a payload of this length. */
  next(payloadLength: number): Buffer {
    const header = this.c.template.header;
    out.fit(OUT_HEAD + header.length + payloadLength + 2 + 20);
    const buf = out.buf;
    this.c.protector!.prepare(buf);
    buf.set(header, OUT_HEAD);
    return buf;
  }

  /** The output buffer as words (for the SRTP XOR); valid until the next `transmit`. */
  get words(): Int32Array {
    return out.words;
  }

  /** Sends `size` bytes of the output buffer (from `OUT_HEAD`) on the nominated pair. */
  transmit(size: number): void {
    const c = this.c;
    const dtls = c.dtls!;
    const buf = out.buf;
    const loss = dtls.config.debug?.outboundPacketLoss;
    // werift's debug option, with werift's meaning: `95` sends 95 % (drops about 5 %).
    if (loss && loss / 100 < Math.random()) return;
    const pair = c.pair!;
    const socket = c.socket;
    if (socket) {
      if (c.transport?.closed) return;
      if (this.udpOf !== socket) {
        this.udpOf = socket;
        this.udp = UdpSend.create(socket);
      }
      if (this.udp) {
        const r = this.udp.send(out.listOf(size), c.port, c.host);
        // Lost (the socket closed under us: the session is closing), like werift's.
        if (r < 0) {
          this.stats.sendErrors++;
          return;
        }
        if (r === 0) {
          this.stats.queued++;
          out.replace();
        }
      } else {
        try {
          // dgram keeps the buffer until its send completes: a copy, so ours is free at once.
          socket.send(Buffer.from(buf.subarray(OUT_HEAD, OUT_HEAD + size)), c.port, c.host);
        } catch {
          this.stats.sendErrors++;
          return;
        }
      }
    } else {
      // ICE over TCP or TURN: werift's own send (framing, relaying), with a copy it may keep.
      void dtls.iceTransport.connection.send(Buffer.from(buf.subarray(OUT_HEAD, OUT_HEAD + size))).catch(() => undefined);
    }
    this.stats.bytes += size;
    dtls.bytesSent += size;
    dtls.packetsSent++;
    pair.packetsSent++;
    pair.bytesSent += size;
  }

  clear(): void {
    this.udp = undefined;
    this.udpOf = undefined;
  }
}
