import type { Socket } from 'node:dgram';
import type { SharedPacket } from './shared-packet';
import { OUT_HEAD } from './srtp';
import type { SenderConfig } from './sender-config';
import { EAGAIN, UdpSend } from './udp-send';

/** What the output counts (part of `LeanSenderStats`). */
export interface OutputStats {
  /** Datagrams libuv queued (the socket buffer was full; the output buffer was left to it). */
  queued: number;
  /** Datagrams sent as part of a segmented (UDP GSO) send of several (see `SegmentRun`). */
  segmented: number;
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

/** The kernel's limits for one segmented send (UDP_MAX_SEGMENTS; an IP datagram's size, with room). */
const MAX_SEGMENTS = 64;
const MAX_RUN_BYTES = 65_000;

/**
 * The thread's run of packets for one segmented send: one viewer's consecutive packets (of
 * one frame, see `MediaSource.publish`) built back to back in one buffer by the native
 * protector, all of one size but the last, which may be shorter, as UDP GSO needs
 * (a frame's packets are: the packetizers cut it into equal chunks). Sent when the viewer's
 * batch ends, or when the next packet cannot join (another viewer, a longer packet, a packet
 * after a shorter one, the kernel's limits).
 */
class SegmentRun {
  buf = Buffer.allocUnsafeSlow(MAX_RUN_BYTES + 2048);
  length = 0;
  count = 0;
  segment = 0;
  /** A packet shorter than `segment` ended the run. */
  ended = false;
  owner?: Output;
  udp?: UdpSend;
  host = '';
  port = 0;

  /** Empties the run (its buffer is kept for the next). */
  reset(): void {
    this.length = 0;
    this.count = 0;
    this.segment = 0;
    this.ended = false;
    this.owner = undefined;
    this.udp = undefined;
  }

  /** Whether a packet of at most `size` bytes from `owner` to this destination can join. */
  fits(owner: Output, udp: UdpSend, host: string, port: number, size: number): boolean {
    return (
      this.owner === owner &&
      this.udp === udp &&
      this.host === host &&
      this.port === port &&
      !this.ended &&
      size <= this.segment &&
      this.count < MAX_SEGMENTS &&
      this.length + size <= MAX_RUN_BYTES
    );
  }
}

const run = new SegmentRun();

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

  /** Between `beginBatch` and `endBatch`, live packets may be held for one segmented send. */
  private batching = false;

  /** The source is about to hand this viewer a batch of packets (see `MediaSource.publish`). */
  beginBatch(): void {
    this.batching = true;
  }

  /** The batch is over: what is held goes out. */
  endBatch(): void {
    this.batching = false;
    if (run.owner === this) this.sendRun();
  }

  /**
   * A live packet, its header already patched in the template (`c.template.header`): in a
   * batch, with the native protector and UDP send, it is built into the thread's run (see
   * `SegmentRun`), sent with the others when the batch ends; otherwise it is built in the
   * shared buffer and sent at once.
   */
  sendLive(shared: SharedPacket, ssrc: number, index: number): void {
    const c = this.c;
    const p = c.protector!;
    const header = c.template.header;
    const into = p.protectInto;
    const socket = c.socket;
    if (this.batching && into && socket && !c.transport?.closed) {
      const udp = this.udpOn(socket);
      if (udp?.canSegment(c.host)) {
        if (this.lost()) return;
        const size = header.length + shared.payload.length + p.tagLength;
        if (run.count > 0 && !run.fits(this, udp, c.host, c.port, size)) run.owner!.sendRun();
        if (run.count === 0) {
          run.owner = this;
          run.udp = udp;
          run.host = c.host;
          run.port = c.port;
        }
        const n = into(run.buf, run.length, header, shared.payload, ssrc, index);
        if (run.count === 0) run.segment = n;
        else if (n < run.segment) run.ended = true;
        run.length += n;
        run.count++;
        return;
      }
    }
    this.transmit(p.protectShared(this.next(shared.payload.length), out.words, header.length, shared, ssrc, index));
  }

  /** Sends the thread's run (this viewer's held packets): one segmented send, else one by one. */
  private sendRun(): void {
    const { udp, count, length, segment, host, port, buf } = run;
    run.reset();
    if (count === 0 || !udp) return;
    if (count === 1 || !udp.canSegment(host)) return this.sendEach(udp, buf, length, segment, host, port);
    const n = udp.sendSegments(buf, 0, length, segment, port, host);
    if (n >= 0) {
      this.stats.segmented += count;
      this.account(length, count);
      return;
    }
    // Not segmented (the kernel cannot, or the socket buffer is full): one by one, which
    // queues in libuv what does not fit; any other error is each datagram's.
    if (n === EAGAIN || !udp.canSegment(host)) return this.sendEach(udp, buf, length, segment, host, port);
    this.stats.sendErrors += count;
  }

  /** The run's datagrams one by one (libuv queues them when the socket buffer is full). */
  private sendEach(udp: UdpSend, buf: Buffer, length: number, segment: number, host: string, port: number): void {
    let queued = false;
    for (let at = 0; at < length; at += segment) {
      const size = Math.min(segment, length - at);
      const r = udp.send([new Uint8Array(buf.buffer, buf.byteOffset + at, size)], port, host);
      if (r < 0) {
        this.stats.sendErrors++;
        continue;
      }
      if (r === 0) {
        this.stats.queued++;
        queued = true;
      }
      this.account(size, 1);
    }
    // libuv holds views of the run's buffer until those sends complete: the next run gets a new one.
    if (queued) run.buf = Buffer.allocUnsafeSlow(run.buf.length);
  }

  /** Sends `size` bytes of the output buffer (from `OUT_HEAD`) on the nominated pair. */
  transmit(size: number): void {
    if (!this.lost()) this.emit(size);
  }

  /** werift's debug option, with werift's meaning: `95` sends 95 % (drops about 5 %). */
  private lost(): boolean {
    const loss = this.c.dtls!.config.debug?.outboundPacketLoss;
    return !!loss && loss / 100 < Math.random();
  }

  private udpOn(socket: Socket): UdpSend | undefined {
    if (this.udpOf !== socket) {
      this.udpOf = socket;
      this.udp = UdpSend.create(socket);
    }
    return this.udp;
  }

  private emit(size: number): void {
    const c = this.c;
    const socket = c.socket;
    if (socket) {
      if (c.transport?.closed) return;
      const udp = this.udpOn(socket);
      if (udp) {
        const r = udp.send(out.listOf(size), c.port, c.host);
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
          socket.send(Buffer.from(out.buf.subarray(OUT_HEAD, OUT_HEAD + size)), c.port, c.host);
        } catch {
          this.stats.sendErrors++;
          return;
        }
      }
    } else {
      // ICE over TCP or TURN: werift's own send (framing, relaying), with a copy it may keep.
      void c.dtls!.iceTransport.connection.send(Buffer.from(out.buf.subarray(OUT_HEAD, OUT_HEAD + size))).catch(() => undefined);
    }
    this.account(size, 1);
  }

  /** What werift's own send would count (getStats reads it). */
  private account(bytes: number, packets: number): void {
    const c = this.c;
    const dtls = c.dtls!;
    const pair = c.pair!;
    this.stats.bytes += bytes;
    dtls.bytesSent += bytes;
    dtls.packetsSent += packets;
    pair.packetsSent += packets;
    pair.bytesSent += bytes;
  }

  clear(): void {
    // Held packets of a viewer that closes mid-batch are dropped, as a closed socket would.
    if (run.owner === this) run.reset();
    this.batching = false;
    this.udp = undefined;
    this.udpOf = undefined;
  }
}
