import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

const early = Symbol('earlyDtls');
const started = Symbol('dtlsStarted');

/** At most this many fragments of a ClientHello are kept: a bound against junk, not a limit a browser reaches. */
const MAX_KEPT_FRAGMENTS = 8;

type Connection = { onData: { execute: (...a: unknown[]) => unknown }; [early]?: Map<number, Buffer>; [started]?: boolean };

/**
 * The ClientHello fragment offset of a datagram that starts with a DTLS handshake record
 * carrying a ClientHello (RFC 6347 4.1 and 4.2.2: a 13-byte record header, then msg_type,
 * length, message_seq, fragment_offset), or undefined for anything else.
 */
function clientHelloFragmentOffset(buf: unknown): number | undefined {
  if (!Buffer.isBuffer(buf) || buf.length < 25 || buf[0] !== 22 || buf[13] !== 1) return undefined;
  return buf.readUIntBE(19, 3);
}

/**
 * Each side starts DTLS when its own ICE reports connected, and the two rarely do so at
 * the same moment: the controlling side (usually the offerer, and usually the DTLS
 * client) often gets there a few milliseconds first. A ClientHello that arrives before
 * werift's DTLS server exists was dropped, and the client retransmitted it only later
 * (werift after 500 ms, Chromium after 50-100 ms): most joins waited for nothing.
 * (werift's fixed 100 ms wait before its ClientHello, removed by
 * dtls-client-no-fixed-delay, hid this only partly.) Now the ClientHello an ICE
 * connection receives before its DTLS transport starts is kept and handed to the DTLS
 * socket as soon as it exists. All of its fragments, in order: Chromium's ClientHello,
 * with its post-quantum key share, is 1.4 kB and comes in two records of two datagrams,
 * and werift reassembles a message once the final fragment arrives after the others. Only
 * the latest copy of each fragment: before it hears from us, a DTLS client can only have
 * sent its ClientHello and retransmissions of it, and answering each copy would only make
 * duplicates.
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
          const kept = (this[early] = new Map<number, Buffer>()); // fragment offset -> latest copy
          const event = this.onData;
          const execute = event.execute;
          event.execute = (...a: unknown[]) => {
            if (!this[started]) {
              const offset = clientHelloFragmentOffset(a[0]);
              if (offset !== undefined && (kept.has(offset) || kept.size < MAX_KEPT_FRAGMENTS)) kept.set(offset, a[0] as Buffer);
            }
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
          const kept = connection[early];
          if (kept?.size) {
            const fragments = [...kept].sort(([a], [b]) => a - b).map(([, buf]) => buf);
            kept.clear();
            for (const buf of fragments) connection.onData.execute(buf);
          }
        }
        return result;
      },
    );
  },
};
