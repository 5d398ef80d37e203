import { weriftModule } from '../werift-lib';
import { signedBy } from './dtls-verify-client-signature';
import { WeriftFix, wrapMethod } from './fix';

const SERVER_KEY_EXCHANGE = 12;
/** TLS 1.2 HashAlgorithm (RFC 5246 7.4.1.4.1). */
const HASHES: Record<number, string> = { 4: 'sha256', 5: 'sha384', 6: 'sha512' };

interface Random {
  serialize(): Buffer;
}

/**
 * The client side of dtls-verify-client-signature: werift's DTLS client took the server's
 * ECDHE key from ServerKeyExchange without checking its signature, so whoever answered the
 * handshake with a certificate whose fingerprint matched (one seen in the clear before)
 * got the session keys. Before flight 5 goes out the signature (RFC 4492 5.4: over both
 * randoms and the ECDH parameters, werift's own `valueKeySignature`) is now verified with
 * the server certificate's public key; a bad one fails the handshake. werift is the DTLS
 * client only when a peer answers this service's offer with `a=setup:passive`.
 */
export const dtlsVerifyServerSignature: WeriftFix = {
  name: 'dtls-verify-server-signature',
  apply() {
    const { Flight5 } = weriftModule('dtls/src/flight/client/flight5.js');
    const { ServerKeyExchange } = weriftModule('dtls/src/handshake/message/server/keyExchange.js');
    wrapMethod(Flight5.prototype, 'exec', (original) =>
      function (
        this: {
          dtls: { flight: number; sortedHandshakeCache: { msg_type: number; fragment: Buffer }[] };
          cipher: {
            remoteCertificate?: Buffer;
            localRandom?: Random;
            remoteRandom?: Random;
            valueKeySignature(client: Buffer, server: Buffer, publicKey: Buffer, namedCurve: number): Buffer;
          };
        },
        ...args: unknown[]
      ) {
        const ske = this.dtls.sortedHandshakeCache.find((h) => h.msg_type === SERVER_KEY_EXCHANGE);
        // A retransmission of flight 5 (werift resends it as is) was verified the first time.
        if (this.dtls.flight !== 5 && ske) {
          const m = ServerKeyExchange.deSerialize(ske.fragment) as {
            namedCurve: number;
            publicKey: Buffer;
            hashAlgorithm: number;
            signature: Buffer;
          };
          const { remoteCertificate, localRandom, remoteRandom } = this.cipher;
          const hash = HASHES[m.hashAlgorithm];
          if (!remoteCertificate || !localRandom || !remoteRandom) throw new Error('DTLS: ServerKeyExchange before the certificate and randoms');
          if (!hash) throw new Error(`DTLS: unsupported ServerKeyExchange hash ${m.hashAlgorithm}`);
          const data = this.cipher.valueKeySignature(localRandom.serialize(), remoteRandom.serialize(), m.publicKey, m.namedCurve);
          if (!signedBy(remoteCertificate, hash, data, m.signature)) {
            throw new Error("DTLS: the server's ServerKeyExchange signature does not match its certificate");
          }
        }
        return original.apply(this, args);
      },
    );
  },
};
