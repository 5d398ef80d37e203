import { UdpTransport } from 'werift';

/**
 * werift's UdpTransport creates its dgram socket in the constructor and binds it in
 * `init()`; when `init()` fails (no free port in `icePortRange`: "port not found") the
 * transport is dropped with its socket still open, one leaked handle per refused session.
 * This wraps `init()` so that a failed bind closes the socket. Applied once, at run time
 * (so it holds for package users too, where patches/ is not applied); it changes nothing
 * when `init()` succeeds, and is harmless if werift ever fixes this itself.
 */
export function closeUdpSocketOnFailedBind(): void {
  const proto = UdpTransport.prototype as unknown as {
    init(): Promise<void>;
    socket?: { close(): void };
    [FIXED]?: true;
  };
  if (typeof proto.init !== 'function' || proto[FIXED]) return;
  const init = proto.init;
  proto.init = async function initOrClose(this: typeof proto) {
    try {
      await init.call(this);
    } catch (err) {
      try {
        this.socket?.close();
      } catch {
        // Already closed: nothing to release.
      }
      throw err;
    }
  };
  proto[FIXED] = true;
}

const FIXED = Symbol.for('webrtc-oneway.udp-transport-fix');
