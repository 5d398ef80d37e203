import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

const fingerprints = Symbol('fingerprints');

/**
 * `RTCCertificate.getFingerprints()` parses the certificate PEM (with @fidm/x509) and
 * hashes it on every call, and werift calls it for every m-line of every SDP it builds.
 * A certificate never changes: compute its fingerprints once.
 */
export const certificateFingerprintOnce: WeriftFix = {
  name: 'certificate-fingerprint-once',
  apply() {
    const { RTCCertificate } = weriftModule('webrtc/src/transport/dtls.js');
    wrapMethod(RTCCertificate.prototype, 'getFingerprints', (original) =>
      function (this: { [fingerprints]?: unknown[] }, ...args: unknown[]) {
        return [...(this[fingerprints] ??= original.apply(this, args))];
      },
    );
  },
};
