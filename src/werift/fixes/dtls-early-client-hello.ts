import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

const early = Symbol('earlyDtls');
const started = Symbol('dtlsStarted');

type Connection = { onData: { execute: (...a: unknown[]) => unknown }; [early]?: Buffer[]; [started]?: boolean };

/**
 * Each side starts DTLS when its own ICE reports connected, and the two rarely do so at
 * the same moment: the controlling side (usually the offerer, and usually the DTLS
 * client) often gets there a few milliseconds first. A ClientHello that arrives before
 * werift's DTLS server exists was dropped, and the client retransmitted it only 500 ms
 * later: most joins waited half a second for nothing. (werift's fixed 100 ms wait before
 * its ClientHello, removed by dtls-client-no-fixed-delay, hid this only partly.) Now the
 * last DTLS datagram an ICE connection receives before its DTLS transport starts is kept
 * and handed to the DTLS socket as soon as it exists. Only the last: before it hears from
 * us, a DTLS client can only have sent its ClientHello and retransmissions of it, and
 * answering each copy would only make duplicates.
 */
export const dtlsEarlyClientHello: WeriftFix = {
  name: 'dtls-early-client-hello',
  apply() {
    const { Connection } = weriftModule('ice/src/ice.js');
    const { RTCDtlsTransport } = weriftModule('webrtc/src/transport/dtls.js');
    // restart() runs in Connection's constructor (and on an ICE restart): the first place
    // where a fix sees the connection's onData event.
    wrapMethod(Connection.prototype, 'restart', (original) =>
      function (this: Connection, ...args: unknown[]) {
        if (!this[early]) {
          const kept: Buffer[] = (this[early] = []); // at most one: the latest
          const event = this.onData;
          const execute = event.execute;
          event.execute = (...a: unknown[]) => {
            const buf = a[0];
            // DTLS records start with a content type 20-63 (RFC 7983).
            if (!this[started] && Buffer.isBuffer(buf) && buf[0] >= 20 && buf[0] <= 63) kept.splice(0, 1, buf);
            return execute.apply(event, a);
          };
        }
        return original.apply(this, args);
      },
    );
    wrapMethod(RTCDtlsTransport.prototype, 'start', (original) =>
      function (this: { iceTransport?: { connection?: Connection }; dtls?: unknown }, ...args: unknown[]) {
        const connection = this.iceTransport?.connection;
        const before = this.dtls;
        const result = original.apply(this, args);
        // start() has created the DTLS socket synchronously, listening on the connection.
        if (connection && this.dtls !== before && !connection[started]) {
          connection[started] = true;
          for (const buf of connection[early]?.splice(0) ?? []) connection.onData.execute(buf);
        }
        return result;
      },
    );
  },
};
