import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { loadNativeSrtp, usesNativeSrtp } from './srtp';

/**
 * The lean path's UDP send: the socket's own libuv handle called the way `dgram`'s `send`
 * calls it, without the per-call work around it (argument checks, a Buffer slice, a list, an
 * address lookup that takes a `process.nextTick` even for a numeric address, a send request
 * object, the callback's tick). Node tries the send synchronously first (`uv_udp_try_send`)
 * and returns the length + 1 when it went out: the caller may then reuse its buffer at once.
 * It returns 0 when libuv queued the datagram (the socket buffer was full): the buffer is
 * the kernel's until the send completes, so the caller must not write to it again.
 *
 * This relies on two Node internals (Node 20 and 22): the socket's state under the symbol
 * `state symbol`, and `SendWrap` from `process.binding('udp_wrap')`. When either is missing,
 * `UdpSend.create` returns undefined and the caller uses `socket.send` (with a copy).
 *
 * With the native addon (native/srtp, unless SRTP_NATIVE=0) an IPv4 datagram goes out with one
 * `sendto` on the socket's descriptor instead (the address parsed once per destination, not
 * per packet); when the socket buffer is full it is handed to libuv as above, which queues it.
 */
interface UdpHandle {
  fd?: number;
  send(req: object, list: Uint8Array[], count: number, port: number, address: string, hasCallback: boolean): number;
}
interface SocketState {
  handle: UdpHandle | null;
}

type SendWrapClass = new () => { list?: Uint8Array[] };
let sendWrap: SendWrapClass | null | undefined;

function sendWrapClass(): SendWrapClass | null {
  if (sendWrap === undefined) {
    try {
      const binding = (process as unknown as { binding(name: string): { SendWrap?: SendWrapClass } }).binding('udp_wrap');
      sendWrap = typeof binding.SendWrap === 'function' ? binding.SendWrap : null;
    } catch {
      sendWrap = null;
    }
  }
  return sendWrap;
}

type NativeSendto = (fd: number, buf: Uint8Array, offset: number, length: number, ipv4: number, port: number) => number;
type NativeSendSegments = (fd: number, buf: Uint8Array, offset: number, length: number, segmentSize: number, ipv4: number, port: number) => number;

export const EAGAIN = -11;
/** What `sendSegments` returns where the kernel or the device cannot segment UDP. */
const NO_GSO = new Set([-5 /* EIO */, -22 /* EINVAL */, -38 /* ENOSYS */, -92 /* ENOPROTOOPT */, -95 /* EOPNOTSUPP */]);
/** Once segmented sends failed that way, none is tried again in this thread. */
let gsoRefused = false;

/** 127.0.0.1 -> 0x7f000001. */
function ipv4Number(address: string): number {
  const p = address.split('.');
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

export class UdpSend {
  private req: { list?: Uint8Array[] };
  /** The destination of the last native send and its address as a number (-1: not IPv4). */
  private nativeHost = '';
  private nativeAddr = -1;
  private readonly segmentsFn?: NativeSendSegments;

  private constructor(
    private readonly state: SocketState,
    private readonly SendWrap: SendWrapClass,
    private readonly fd: number,
    private readonly sendto: NativeSendto | undefined,
    sendSegments: NativeSendSegments | undefined,
  ) {
    this.req = new SendWrap();
    this.segmentsFn = sendto ? sendSegments : undefined;
  }

  static create(socket: Socket): UdpSend | undefined {
    const SendWrap = sendWrapClass();
    if (!SendWrap) return undefined;
    const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    const state = key && (socket as unknown as Record<symbol, SocketState | undefined>)[key];
    if (!state || !state.handle || typeof state.handle.send !== 'function') return undefined;
    const addon = usesNativeSrtp() ? loadNativeSrtp() : undefined;
    const fd = state.handle.fd;
    const sendto = addon && typeof addon.sendto === 'function' && typeof fd === 'number' && fd >= 0 ? addon.sendto : undefined;
    const segments = addon && typeof addon.sendSegments === 'function' ? addon.sendSegments : undefined;
    return new UdpSend(state, SendWrap, fd ?? -1, sendto, segments);
  }

  /** Whether datagrams go out through the native `sendto` (IPv4 destinations). */
  get native(): boolean {
    return this.sendto !== undefined;
  }

  /** Whether `sendSegments` can be tried to `address` now (native, open, IPv4, not refused). */
  canSegment(address: string): boolean {
    return this.segmentsFn !== undefined && !gsoRefused && this.nativeFd(address) >= 0;
  }

  /**
   * Sends `buf[offset .. offset + length)` as datagrams of `segmentSize` bytes (the last one
   * may be shorter) with one UDP GSO send (see the addon's `sendSegments`). Returns > 0 when
   * they went out, else nothing went out: EAGAIN (the socket buffer is full), or another
   * errno; where the kernel cannot segment, segmented sends are not tried again
   * (`canSegment` turns false) and the caller sends them one by one.
   */
  sendSegments(buf: Uint8Array, offset: number, length: number, segmentSize: number, port: number, address: string): number {
    if (!this.canSegment(address)) return -95;
    const n = this.segmentsFn!(this.fd, buf, offset, length, segmentSize, this.nativeAddr, port);
    if (n < 0 && NO_GSO.has(n)) gsoRefused = true;
    return n;
  }

  /**
   * The socket's descriptor when a datagram to `address` can go out through a native call now
   * (native send, socket open, IPv4), else -1 (use `send`).
   */
  nativeFd(address: string): number {
    if (!this.sendto || !this.state.handle) return -1;
    if (address !== this.nativeHost) {
      this.nativeHost = address;
      this.nativeAddr = isIPv4(address) ? ipv4Number(address) : -1;
    }
    return this.nativeAddr >= 0 ? this.fd : -1;
  }

  /**
   * Sends `view` (a view on the caller's buffer) to `address:port`. Returns > 0 when it went
   * out at once, 0 when it was queued (the buffer is held), < 0 when it failed (an errno; a
   * closed socket: the packet is lost).
   */
  send(list: Uint8Array[], port: number, address: string): number {
    const handle = this.state.handle;
    if (!handle) return -9; // EBADF: the socket was closed (and its descriptor may be reused).
    if (this.sendto) {
      if (this.nativeFd(address) >= 0) {
        const view = list[0];
        const n = this.sendto(this.fd, view, 0, view.length, this.nativeAddr, port);
        // Sent: as libuv's try-send reports it (length + 1: the buffer is free again).
        if (n >= 0) return n + 1;
        if (n !== EAGAIN) return n;
        // The socket buffer is full: libuv queues it (below) and sends it when there is room.
      }
    }
    const req = this.req;
    // Keeps the buffer alive while libuv holds it (what dgram does too).
    req.list = list;
    const r = handle.send(req, list, 1, port, address, false);
    // Queued: the request object now belongs to libuv until the send completes.
    if (r === 0) this.req = new this.SendWrap();
    return r;
  }
}
