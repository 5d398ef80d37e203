import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * Retransmissions are how DTLS survives loss and slow peers, but werift's handshake broke
 * on them. A burst of joins (handshakes slower than the 500 ms first retransmission
 * timer) failed about one in ten connections:
 * - the client received the HelloVerifyRequest twice (the server answers each copy of the
 *   ClientHello) and `Flight3.exec` threw on the second: the DTLS transport failed;
 * - the server answered a late copy of the cookie-less ClientHello after it had sent its
 *   ServerKeyExchange, and `flight2` generated a new ECDHE key pair: the client's key
 *   exchange then no longer matched and the handshake could not finish.
 * Now a repeated HelloVerifyRequest is ignored (the client's own retransmission timer
 * repeats its ClientHello if needed), and the server keeps the key pair it made for the
 * association.
 */
export const dtlsRetransmittedHellos: WeriftFix = {
  name: 'dtls-retransmitted-hellos',
  apply() {
    const { Flight3 } = weriftModule('dtls/src/flight/client/flight3.js');
    wrapMethod(Flight3.prototype, 'exec', (original) =>
      async function (this: { dtls: { flight: number } }, ...args: unknown[]) {
        if (this.dtls.flight === 3) return; // a duplicate HelloVerifyRequest
        return original.apply(this, args);
      },
    );
    const server = weriftModule('dtls/src/flight/server/flight2.js');
    const flight2 = server.flight2 as (...a: unknown[]) => (clientHello: unknown) => unknown;
    if (typeof flight2 !== 'function') throw new Error('flight2 is missing');
    server.flight2 = (udp: unknown, dtls: unknown, cipher: { localKeyPair?: { curve: number }; namedCurve?: number }, srtp: unknown) => {
      const handle = flight2(udp, dtls, cipher, srtp);
      return (clientHello: unknown) => {
        const kept = cipher.localKeyPair;
        const result = handle(clientHello);
        if (kept && kept.curve === cipher.namedCurve) cipher.localKeyPair = kept;
        return result;
      };
    };
  },
};
