import type { Socket } from 'node:dgram';

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
 */
interface UdpHandle {
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

export class UdpSend {
  private req: { list?: Uint8Array[] };

  private constructor(
    private readonly state: SocketState,
    private readonly SendWrap: SendWrapClass,
  ) {
    this.req = new SendWrap();
  }

  static create(socket: Socket): UdpSend | undefined {
    const SendWrap = sendWrapClass();
    if (!SendWrap) return undefined;
    const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    const state = key && (socket as unknown as Record<symbol, SocketState | undefined>)[key];
    if (!state || !state.handle || typeof state.handle.send !== 'function') return undefined;
    return new UdpSend(state, SendWrap);
  }

  /**
   * Sends `view` (a view on the caller's buffer) to `address:port`. Returns > 0 when it went
   * out at once, 0 when it was queued (the buffer is held), < 0 when it failed (an errno; a
   * closed socket: the packet is lost).
   */
  send(list: Uint8Array[], port: number, address: string): number {
    const handle = this.state.handle;
    if (!handle) return -9; // EBADF: the socket was closed.
    const req = this.req;
    // Keeps the buffer alive while libuv holds it (what dgram does too).
    req.list = list;
    const r = handle.send(req, list, 1, port, address, false);
    // Queued: the request object now belongs to libuv until the send completes.
    if (r === 0) this.req = new this.SendWrap();
    return r;
  }
}
