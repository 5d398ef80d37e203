import { createECDH, createPrivateKey, createPublicKey, diffieHellman, ECDH, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/** werift's NamedCurveAlgorithm values (dtls/src/cipher/const.ts). */
const SECP256R1 = 23;
const X25519 = 29;
/** DER prefixes that turn a raw X25519 key into PKCS#8 / SPKI (RFC 8410). */
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * werift's DTLS does its elliptic-curve work in pure JavaScript: P-256 key generation and
 * ECDH through @noble/curves and X25519 through tweetnacl, about 30x slower than OpenSSL
 * and most of a session's setup CPU. It also re-parses the certificate and private key
 * PEM (with @fidm/x509) for every handshake and signs with a PEM string, which OpenSSL
 * parses again each time. Here the same operations go through node:crypto, with the
 * parsed key cached per PEM. Wire formats are unchanged (raw 65-byte uncompressed P-256
 * points and 32-byte X25519 keys, DER ECDSA signatures). The PRF already used
 * node:crypto's HMAC and is left alone.
 */
export const dtlsNodeCrypto: WeriftFix = {
  name: 'dtls-node-crypto',
  apply() {
    const namedCurve = weriftModule('dtls/src/cipher/namedCurve.js');
    const prf = weriftModule('dtls/src/cipher/prf.js');
    const { CipherContext } = weriftModule('dtls/src/context/cipher.js');
    for (const [mod, key] of [
      [namedCurve, 'generateKeyPair'],
      [prf, 'prfPreMasterSecret'],
    ] as const) {
      if (typeof mod[key] !== 'function') throw new Error(`${key} is missing`);
    }
    // The key pair's private key Buffer -> the object that can finish the exchange, so the
    // exchange does not derive the public key again.
    const exchanges = new WeakMap<Buffer, ECDH | KeyObject>();

    namedCurve.generateKeyPair = (curve: number) => {
      if (curve === SECP256R1) {
        const ecdh = createECDH('prime256v1');
        const publicKey = ecdh.generateKeys();
        const privateKey = leftPad(ecdh.getPrivateKey(), 32);
        exchanges.set(privateKey, ecdh);
        return { curve, privateKey, publicKey };
      }
      if (curve === X25519) {
        const keys = generateKeyPairSync('x25519');
        const privateKey = Buffer.from(keys.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32));
        const publicKey = Buffer.from(keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
        exchanges.set(privateKey, keys.privateKey);
        return { curve, privateKey, publicKey };
      }
      throw new Error(`unsupported named curve ${curve}`);
    };

    prf.prfPreMasterSecret = (publicKey: Buffer, privateKey: Buffer, curve: number): Buffer => {
      if (curve === SECP256R1) {
        let ecdh = exchanges.get(privateKey) as ECDH | undefined;
        if (!ecdh) {
          ecdh = createECDH('prime256v1');
          ecdh.setPrivateKey(privateKey);
        }
        return ecdh.computeSecret(publicKey); // the x coordinate, as @noble's subarray(1)
      }
      if (curve === X25519) {
        const own =
          (exchanges.get(privateKey) as KeyObject | undefined) ??
          createPrivateKey({ key: Buffer.concat([X25519_PKCS8, privateKey]), format: 'der', type: 'pkcs8' });
        const peer = createPublicKey({ key: Buffer.concat([X25519_SPKI, publicKey]), format: 'der', type: 'spki' });
        return diffieHellman({ privateKey: own, publicKey: peer });
      }
      throw new Error(`unsupported named curve ${curve}`);
    };

    // One parse per certificate, not per handshake (CipherContext's constructor calls it).
    const parsed = new Map<string, { localCert: Buffer; localPrivateKey: unknown; signingKey: KeyObject }>();
    const signingKeys = new WeakMap<object, KeyObject>();
    wrapMethod(CipherContext.prototype, 'parseX509', (original) =>
      function (this: any, certPem: string, keyPem: string, signatureHash: unknown) {
        const key = `${certPem}\n${keyPem}`;
        let hit = parsed.get(key);
        if (!hit) {
          original.call(this, certPem, keyPem, signatureHash);
          hit = { localCert: this.localCert, localPrivateKey: this.localPrivateKey, signingKey: createPrivateKey(keyPem) };
          if (parsed.size >= 8) parsed.delete(parsed.keys().next().value as string); // rotated certificates
          parsed.set(key, hit);
          signingKeys.set(hit.localPrivateKey as object, hit.signingKey);
        }
        this.localCert = hit.localCert;
        this.localPrivateKey = hit.localPrivateKey;
        this.signatureHashAlgorithm = signatureHash;
      },
    );
    const signingKey = (ctx: any): KeyObject =>
      signingKeys.get(ctx.localPrivateKey) ?? createPrivateKey(ctx.localPrivateKey.toPEM());
    // ServerKeyExchange signature (flight 4) and CertificateVerify (flight 5).
    CipherContext.prototype.generateKeySignature = function (this: any, hashAlgorithm: string) {
      const client = this.sessionType === 1 ? this.localRandom : this.remoteRandom; // SessionType.CLIENT = 1
      const server = this.sessionType === 1 ? this.remoteRandom : this.localRandom;
      const data = this.valueKeySignature(client.serialize(), server.serialize(), this.localKeyPair.publicKey, this.namedCurve);
      return sign(hashAlgorithm, data, signingKey(this));
    };
    CipherContext.prototype.signatureData = function (this: any, data: Buffer, hash: string) {
      return sign(hash, data, signingKey(this));
    };
  },
};

function leftPad(b: Buffer, size: number): Buffer {
  return b.length >= size ? b : Buffer.concat([Buffer.alloc(size - b.length), b]);
}
