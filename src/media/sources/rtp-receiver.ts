import { Logger } from '@nestjs/common';
import { createSocket, Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { RtpPacket, Vp8RtpPayload } from 'werift';
import type { AudioCodecName, VideoCodecName } from '../media-source';
import { OPUS_CLOCK_RATE } from '../codecs';
import { RtpRewriter, RtpRewriterOptions } from './rtp-rewriter';

/**
 * Largest RTP payload that passes through SRTP to a browser without IP fragmentation on a
 * usual path (1500-byte MTU less IP/UDP/RTP/SRTP overheads and header extensions).
 * Encoders must packetize to it: ffmpeg `-f rtp -pkt_size 1200`, GStreamer `mtu=1200`.
 */
export const MAX_RTP_PAYLOAD = 1200;

export interface RtpReceiverOptions {
  /** The stream's codec: video (keyframes are found) or Opus audio (no keyframes, 48 kHz clock). */
  codec: VideoCodecName | AudioCodecName;
  /** Address to bind (default 127.0.0.1). Use an IPv6 address for an IPv6 socket. */
  host?: string;
  /** UDP port to bind; 0 = an ephemeral port (read `port` after `start()`). */
  port: number;
  /** Only RTP packets with this payload type are taken (default 96); others are dropped. */
  payloadType?: number;
  /** No packet for this long (ms) makes the stream `offline` (default 2000). */
  offlineAfterMs?: number;
  /** Payload size above which a packet is counted as oversize and logged (default 1200). */
  maxPayload?: number;
  rewriter?: RtpRewriterOptions;
  logger?: Logger;
}

export interface RtpReceiverStats {
  received: number;
  forwarded: number;
  rtcp: number;
  wrongPayloadType: number;
  malformed: number;
  oversize: number;
  keyframes: number;
  segments: number;
}

export interface RtpReceiverEvents {
  /** A packet, rewritten for continuity; `keyframeStart` marks the first packet of a keyframe. */
  packet: [packet: RtpPacket, keyframeStart: boolean];
  /** Packets flow (the first packet, or the first after an `offline`). */
  live: [];
  /** No packet for `offlineAfterMs` (or `markOffline()` was called). */
  offline: [];
  /** An H.264 SPS with a profile-level-id different from the last one was seen. */
  profile: [profileLevelId: string];
}

/**
 * Receives RTP video from an encoder on a UDP socket: drops RTCP and other payload types,
 * finds where keyframes start, keeps sequence numbers and timestamps continuous across
 * encoder restarts (`RtpRewriter`), and tells when the stream goes silent and comes back.
 * The building block of `RtpSource`, `RtspSource` and `FileSource`.
 */
export class RtpReceiver extends EventEmitter<RtpReceiverEvents> {
  readonly codec: VideoCodecName | AudioCodecName;
  readonly host: string;
  readonly payloadType: number;
  readonly offlineAfterMs: number;
  readonly maxPayload: number;
  readonly rewriter: RtpRewriter;
  private readonly requestedPort: number;
  private readonly logger: Logger;
  private socket?: Socket;
  private boundPort?: number;
  private watchdog?: NodeJS.Timeout;
  private _live = false;
  private lastPacketAt = 0;
  private startedAt = 0;
  private offlineReported = false;
  private _profileLevelId?: string;
  // H.264 access-unit tracking: a keyframe starts at the first packet of an access unit
  // (same timestamp) that carries an SPS or the start of an IDR slice.
  private auTimestamp = -1;
  private auKeyMarked = false;
  readonly stats: RtpReceiverStats = {
    received: 0,
    forwarded: 0,
    rtcp: 0,
    wrongPayloadType: 0,
    malformed: 0,
    oversize: 0,
    keyframes: 0,
    segments: 0,
  };

  constructor(options: RtpReceiverOptions) {
    super();
    this.codec = options.codec;
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = options.port;
    this.payloadType = options.payloadType ?? 96;
    this.offlineAfterMs = options.offlineAfterMs ?? 2000;
    this.maxPayload = options.maxPayload ?? MAX_RTP_PAYLOAD;
    this.rewriter = new RtpRewriter({
      ...(options.codec === 'opus' ? { clockRate: OPUS_CLOCK_RATE } : {}),
      ...options.rewriter,
    });
    this.logger = options.logger ?? new Logger(RtpReceiver.name);
  }

  /** The bound port (after `start()`; still the last one after `stop()`). */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('RtpReceiver is not started');
    return this.boundPort;
  }

  /**
   * Feeds a source: every packet to `publish`, `live`/`offline` to `setState` (what each
   * RTP-fed source does with its receiver).
   */
  feed(publish: (packet: RtpPacket, keyframeStart: boolean) => void, setState: (state: 'live' | 'offline') => void): this {
    this.on('packet', publish);
    this.on('live', () => setState('live'));
    this.on('offline', () => setState('offline'));
    return this;
  }

  /** The profile-level-id (6 hex digits) of the last H.264 SPS seen, if any. */
  get profileLevelId(): string | undefined {
    return this._profileLevelId;
  }

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = createSocket({ type: this.host.includes(':') ? 'udp6' : 'udp4' });
    this.socket = socket;
    try {
      const bound = once(socket, 'listening');
      socket.bind(this.requestedPort, this.host);
      await bound; // rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL...)
    } catch (err) {
      this.socket = undefined;
      try {
        socket.close();
      } catch {
        // already closed
      }
      throw err;
    }
    this.boundPort = socket.address().port;
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // the kernel's limit applies
    }
    socket.on('message', (msg) => this.onMessage(msg));
    socket.on('error', (err) => this.logger.warn(`RTP socket error: ${err.message}`));
    this.startedAt = performance.now();
    const every = Math.max(20, Math.min(250, Math.floor(this.offlineAfterMs / 4)));
    this.watchdog = setInterval(() => this.checkSilence(), every);
    this.watchdog.unref();
  }

  /** Closes the socket. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    const socket = this.socket;
    this.socket = undefined;
    this._live = false;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** Reports `offline` now (e.g. the encoder process died); `live` again on the next packet. */
  markOffline(): void {
    if (!this._live && this.offlineReported) return;
    this._live = false;
    this.offlineReported = true;
    this.emit('offline');
  }

  private checkSilence(): void {
    const now = performance.now();
    const since = this._live ? this.lastPacketAt : this.startedAt;
    if (now - since < this.offlineAfterMs) return;
    if (this._live || !this.offlineReported) this.markOffline();
  }

  /** @internal exposed for tests: handles one datagram. */
  onMessage(msg: Buffer, nowMs: number = performance.now()): void {
    this.stats.received++;
    if (msg.length < 12 || msg[0] >> 6 !== 2) {
      this.stats.malformed++;
      return;
    }
    // RTCP shares the port under RFC 5761: its packet types 192..223 sit where RTP has M+PT.
    if (msg[1] >= 192 && msg[1] <= 223) {
      this.stats.rtcp++;
      return;
    }
    if ((msg[1] & 0x7f) !== this.payloadType) {
      if (this.stats.wrongPayloadType++ === 0) {
        this.logger.warn(`dropping RTP payload type ${msg[1] & 0x7f} (expected ${this.payloadType})`);
      }
      return;
    }
    let packet: RtpPacket;
    let keyframeStart: boolean;
    try {
      packet = RtpPacket.deSerialize(msg);
      if (packet.payload.length === 0) throw new Error('empty payload');
      keyframeStart =
        this.codec === 'opus' ? false : this.codec === 'VP8' ? this.vp8KeyframeStart(packet) : this.h264KeyframeStart(packet);
    } catch {
      this.stats.malformed++;
      return;
    }
    if (packet.payload.length > this.maxPayload) {
      const n = ++this.stats.oversize;
      if (n === 1 || n % 1000 === 0) {
        this.logger.warn(
          `${n} RTP packet(s) with a payload over ${this.maxPayload} bytes (this one ${packet.payload.length}): ` +
            'they may be fragmented or lost on the way to viewers; packetize smaller (ffmpeg: -pkt_size 1200)',
        );
      }
    }
    // werift's sender adds its own header extensions; drop the encoder's, and its padding.
    packet.header.extension = false;
    packet.header.extensions = [];
    packet.header.padding = false;
    packet.header.paddingSize = 0;
    if (this.rewriter.rewrite(packet, nowMs) === 'dropped') return;
    this.stats.segments = this.rewriter.segments;
    if (keyframeStart) this.stats.keyframes++;
    this.stats.forwarded++;
    this.lastPacketAt = nowMs;
    if (!this._live) {
      this._live = true;
      this.offlineReported = false;
      this.emit('live');
    }
    this.emit('packet', packet, keyframeStart);
  }

  private vp8KeyframeStart(packet: RtpPacket): boolean {
    const vp8 = Vp8RtpPayload.deSerialize(packet.payload);
    return vp8.sBit === 1 && vp8.pid === 0 && vp8.isKeyframe;
  }

  private h264KeyframeStart(packet: RtpPacket): boolean {
    const ts = packet.header.timestamp >>> 0;
    if (ts !== this.auTimestamp) {
      this.auTimestamp = ts;
      this.auKeyMarked = false;
    }
    const p = packet.payload;
    const type = p[0] & 0x1f;
    let key = false;
    if (type === 7 || type === 5) {
      key = true;
      if (type === 7) this.noteSps(p);
    } else if (type === 24) {
      // STAP-A: [16-bit size][NAL]...
      let off = 1;
      while (off + 2 < p.length) {
        const size = p.readUInt16BE(off);
        off += 2;
        if (size === 0 || off + size > p.length) break;
        const t = p[off] & 0x1f;
        if (t === 7) {
          key = true;
          this.noteSps(p.subarray(off, off + size));
        } else if (t === 5) key = true;
        off += size;
      }
    } else if (type === 28) {
      // FU-A: the start fragment of an IDR slice.
      key = p.length > 1 && (p[1] & 0x80) !== 0 && (p[1] & 0x1f) === 5;
    }
    if (!key || this.auKeyMarked) return false;
    this.auKeyMarked = true;
    return true;
  }

  private noteSps(sps: Buffer): void {
    const id = profileLevelIdFromSps(sps);
    if (id && id !== this._profileLevelId) {
      this._profileLevelId = id;
      this.emit('profile', id);
    }
  }
}

/**
 * The SDP profile-level-id of an H.264 SPS NAL unit (with its 1-byte header):
 * profile_idc, the constraint flags byte and level_idc as 6 hex digits.
 */
export function profileLevelIdFromSps(sps: Buffer): string | undefined {
  if (sps.length < 4 || (sps[0] & 0x1f) !== 7) return undefined;
  return sps.subarray(1, 4).toString('hex');
}
