import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * werift's UdpTransport creates its dgram socket in the constructor and binds it in
 * `init()`; when `init()` fails (no free port in `icePortRange`: "port not found") the
 * transport is dropped with its socket still open, one leaked handle per refused session.
 * A failed bind now closes the socket; nothing changes when `init()` succeeds.
 */
export const udpCloseOnFailedBind: WeriftFix = {
  name: 'udp-close-on-failed-bind',
  apply() {
    const { UdpTransport } = weriftModule('common/src/transport.js');
    wrapMethod(UdpTransport.prototype, 'init', (init) =>
      async function initOrClose(this: { socket?: { close(): void } }, ...args: unknown[]) {
        try {
          return await init.apply(this, args);
        } catch (err) {
          try {
            this.socket?.close();
          } catch {
            // Already closed: nothing to release.
          }
          throw err;
        }
      },
    );
  },
};
