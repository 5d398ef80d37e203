import { Logger } from '@nestjs/common';
import { weriftModule } from './werift-lib';

/** werift's RTCCertificate (lib/webrtc/src/transport/dtls.ts): PEMs and fingerprints. */
export interface DtlsCertificate {
  readonly certPem: string;
  readonly signatureHash: unknown;
  getFingerprints(): { algorithm: string; value: string }[];
}

/** A certificate as plain values (what crosses to a media worker). */
export interface DtlsCertificatePem {
  privateKey: string;
  certPem: string;
  signatureHash: unknown;
}

interface RTCDtlsTransportStatics {
  localCertificate?: DtlsCertificate;
  localCertificatePromise?: Promise<DtlsCertificate>;
  SetupCertificate(): Promise<DtlsCertificate>;
}

/**
 * The process's DTLS certificate: one ECDSA P-256 certificate for every peer connection,
 * renewed when it is older than the rotation period (browsers keep theirs for days to a
 * month; a new one per session costs a key generation and a signature for nothing). It is
 * werift's own process-wide default (`RTCDtlsTransport.localCertificate`), so werift and
 * the sessions never disagree; renewing replaces it for connections made afterwards,
 * while a live connection keeps the certificate its fingerprint was signalled with.
 * No timer: the age is checked when a session asks.
 */
export class DtlsCertificates {
  private current?: { certificate: DtlsCertificate; createdAt: number };
  private renewing?: Promise<DtlsCertificate>;

  constructor(private readonly now: () => number = Date.now) {}

  /** The certificate for a new connection (undefined only until the first is made). */
  get(rotationMs: number): DtlsCertificate | undefined {
    if (!this.current || this.now() - this.current.createdAt >= rotationMs) {
      // On failure the current certificate stays in use, and the next session retries.
      this.renew().catch((err: Error) => new Logger('DtlsCertificates').warn(`could not make a DTLS certificate: ${err.message}`));
    }
    return this.current?.certificate;
  }

  /**
   * Makes this (PEM) certificate werift's default and the current one: a media worker thread
   * (src/workers) uses the main thread's certificate, so the process keeps one. Idempotent.
   */
  adopt(pem: DtlsCertificatePem): DtlsCertificate {
    if (this.current?.certificate.certPem === pem.certPem) return this.current.certificate;
    const dtls = weriftModule('webrtc/src/transport/dtls.js') as {
      RTCDtlsTransport: RTCDtlsTransportStatics;
      RTCCertificate: new (privateKeyPem: string, certPem: string, signatureHash: unknown) => DtlsCertificate;
    };
    const certificate = new dtls.RTCCertificate(pem.privateKey, pem.certPem, pem.signatureHash);
    dtls.RTCDtlsTransport.localCertificate = certificate;
    dtls.RTCDtlsTransport.localCertificatePromise = undefined;
    this.current = { certificate, createdAt: this.now() };
    return certificate;
  }

  /** Makes a new certificate (once at a time) and makes it werift's default. */
  renew(): Promise<DtlsCertificate> {
    this.renewing ??= (async () => {
      const statics = weriftModule('webrtc/src/transport/dtls.js').RTCDtlsTransport as RTCDtlsTransportStatics;
      if (this.current) {
        // werift memoizes its default; forget it so that SetupCertificate makes a new one.
        statics.localCertificate = undefined;
        statics.localCertificatePromise = undefined;
      }
      try {
        const certificate = await statics.SetupCertificate();
        this.current = { certificate, createdAt: this.now() };
        return certificate;
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }
}

/** The one instance (werift's default certificate is per loaded copy of werift, too). */
export const dtlsCertificates = new DtlsCertificates();
