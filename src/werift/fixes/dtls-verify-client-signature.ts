import { constants, verify, X509Certificate } from 'node:crypto';
import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

interface Handshake {
  msg_type: number;
  fragment: Buffer;
  serialize(): Buffer;
}

const CERTIFICATE_VERIFY = 15;

/** TLS 1.2 SignatureScheme values (RFC 8446 4.2.3) a WebRTC client signs with: the hash, and RSA-PSS or not. */
const SCHEMES: Record<number, { hash: string; pss?: boolean }> = {
  0x0403: { hash: 'sha256' }, // ecdsa_secp256r1_sha256: Chromium, Firefox, aiortc, werift
  0x0503: { hash: 'sha384' },
  0x0401: { hash: 'sha256' }, // rsa_pkcs1_sha256
  0x0501: { hash: 'sha384' },
  0x0804: { hash: 'sha256', pss: true }, // rsa_pss_rsae_sha256
};

/**
 * werift's DTLS server never checked the client's CertificateVerify: it compared the
 * certificate's fingerprint with the SDP's (RTCDtlsTransport) but not that the client holds
 * the certificate's key. A certificate is sent in the clear in DTLS 1.2, so anyone who saw
 * one handshake could present it again and pass the fingerprint check. Before the server's
 * Finished goes out, the signature is now verified (RFC 5246 7.4.8: over every handshake
 * message before the CertificateVerify) with the certificate's public key; a bad one fails
 * the handshake (werift's onError: the transport fails, no Finished, no SRTP keys).
 */
export const dtlsVerifyClientSignature: WeriftFix = {
  name: 'dtls-verify-client-signature',
  apply() {
    const { Flight6 } = weriftModule('dtls/src/flight/server/flight6.js');
    const { CertificateVerify } = weriftModule('dtls/src/handshake/message/client/certificateVerify.js');
    wrapMethod(Flight6.prototype, 'exec', (original) =>
      function (this: { dtls: { flight: number; sortedHandshakeCache: Handshake[] }; cipher: { remoteCertificate?: Buffer } }, ...args: unknown[]) {
        // A retransmitted flight 5 (flight 6 sent already) was verified the first time.
        if (this.dtls.flight !== 6) verifyClientSignature(this.dtls.sortedHandshakeCache, this.cipher.remoteCertificate, CertificateVerify);
        return original.apply(this, args);
      },
    );
  },
};

function verifyClientSignature(
  cache: Handshake[],
  certificate: Buffer | undefined,
  CertificateVerify: { deSerialize(b: Buffer): { algorithm: number; signature: Buffer } },
): void {
  const at = cache.findIndex((h) => h.msg_type === CERTIFICATE_VERIFY);
  if (at < 0) {
    // No client certificate: the transport's fingerprint check refuses the connection.
    if (certificate) throw new Error('DTLS: the client sent a certificate but no CertificateVerify');
    return;
  }
  if (!certificate) throw new Error('DTLS: CertificateVerify without a client certificate');
  const { algorithm, signature } = CertificateVerify.deSerialize(cache[at].fragment);
  const scheme = SCHEMES[algorithm];
  if (!scheme) throw new Error(`DTLS: unsupported CertificateVerify signature scheme 0x${algorithm.toString(16)}`);
  const signed = Buffer.concat(cache.slice(0, at).map((h) => h.serialize()));
  if (!signedBy(certificate, scheme.hash, signed, signature, scheme.pss)) {
    throw new Error("DTLS: the client's CertificateVerify signature does not match its certificate");
  }
}

/** Whether `signature` (ECDSA in DER, or RSA) over `data` was made with the key of this DER certificate. */
export function signedBy(certificate: Buffer, hash: string, data: Buffer, signature: Buffer, pss = false): boolean {
  const key = new X509Certificate(certificate).publicKey;
  const options =
    key.asymmetricKeyType === 'ec'
      ? { key, dsaEncoding: 'der' as const }
      : pss
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
        : key;
  return verify(hash, data, options, signature);
}
