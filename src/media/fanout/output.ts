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
 * One viewer's output buffer and its `send`. The buffer holds `OUT_HEAD` bytes for the SRTP
 * protector (see `SrtpProtector.prepare`), then the header template, then room for the
 * payload and the tag; it is stamped once per configuration, so per packet only the
 * variable fields are patched. The send is synchronous almost always (`UdpSend`), so one
 * buffer per viewer is reused packet after packet; when the kernel queue was full and libuv
 * kept the datagram, the buffer is left to it and a new one is made.
 */
export class Output {
  private bufSize = 0;
  private buf?: Buffer;
  private words32?: Int32Array;
  private stampedGen = -1;
  /** The list handed to the send: one view of `buf`, cached by length (most packets are full). */
  private list: Uint8Array[] = [];
  private listLength = -1;
  private udp?: UdpSend;
  private udpOf?: Socket;
  constructor(
    private readonly c: SenderConfig,
    private readonly stats: OutputStats,
  ) {}

  /** The output buffer, with the current header template, for a payload of this length. */
  next(payloadLength: number): Buffer {
    const header = this.c.template.header.length;
    const need = OUT_HEAD + header + payloadLength + 2 + 20;
    if (this.buf === undefined || need > this.bufSize) {
      this.bufSize = Math.max(need, OUT_HEAD + header + DEFAULT_MAX_PAYLOAD + 22);
      this.replace();
    }
    if (this.stampedGen !== this.c.generation) {
      this.c.protector!.prepare(this.buf!);
      this.c.template.header.copy(this.buf!, OUT_HEAD);
      this.stampedGen = this.c.generation;
    }
    return this.buf!;
  }

  /** The output buffer as words (for the SRTP XOR). */
  get words(): Int32Array {
    return this.words32!;
  }

  /** Marks the buffer's header as changed (RTX): re-stamped when next taken. */
  dirty(): void {
    this.stampedGen = -1;
  }

  /** Sends `size` bytes of the output buffer (from `OUT_HEAD`) on the nominated pair. */
  transmit(size: number): void {
    const c = this.c;
    const dtls = c.dtls!;
    const buf = this.buf!;
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
        if (size !== this.listLength) {
          this.list = [new Uint8Array(buf.buffer, buf.byteOffset + OUT_HEAD, size)];
          this.listLength = size;
        }
        const r = this.udp.send(this.list, c.port, c.host);
        // Lost (the socket closed under us: the session is closing), like werift's.
        if (r < 0) {
          this.stats.sendErrors++;
          return;
        }
        if (r === 0) {
          this.stats.queued++;
          this.replace();
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
    this.buf = undefined;
    this.words32 = undefined;
    this.list = [];
    this.listLength = -1;
    this.udp = undefined;
    this.udpOf = undefined;
  }

  /** A new output buffer (the old one is libuv's, or too small); stamped when next taken. */
  private replace(): void {
    const b = Buffer.allocUnsafeSlow(this.bufSize);
    this.buf = b;
    this.words32 = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
    this.stampedGen = -1;
    this.listLength = -1;
  }
}
