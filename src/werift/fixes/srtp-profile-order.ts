import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * werift offers (as DTLS client) and picks (as DTLS server, by its own order)
 * SRTP_AEAD_AES_128_GCM first. SRTP_AES128_CM_HMAC_SHA1_80 is WebRTC's mandatory profile
 * (RFC 8827 6.5) and the one the lean send path encrypts most cheaply (AES-CM keystream in
 * batches, one-shot HMAC): prefer it, keep GCM for peers that offer only GCM.
 */
export const srtpProfileOrder: WeriftFix = {
  name: 'srtp-profile-order',
  apply() {
    const { SRTP_PROFILE } = weriftModule('webrtc/src/const.js');
    const { RTCDtlsTransport } = weriftModule('webrtc/src/transport/dtls.js');
    const first = SRTP_PROFILE.SRTP_AES128_CM_HMAC_SHA1_80 as number;
    if (typeof first !== 'number') throw new Error('SRTP_PROFILE.SRTP_AES128_CM_HMAC_SHA1_80 is missing');
    wrapMethod(RTCDtlsTransport.prototype, 'start', (original) =>
      function (this: { srtpProfiles?: number[] }, ...args: unknown[]) {
        const profiles = this.srtpProfiles;
        if (profiles?.includes(first)) this.srtpProfiles = [first, ...profiles.filter((p) => p !== first)];
        return original.apply(this, args);
      },
    );
  },
};
