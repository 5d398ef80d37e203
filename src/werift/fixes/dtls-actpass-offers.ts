import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * RFC 8842 5.2 / RFC 8829 5.2.1: every offer, initial or subsequent, says
 * `a=setup:actpass`. werift's re-offers copied the negotiated role (`active`/`passive`),
 * which aiortc refuses ("DTLS setup attribute must be 'actpass' for an offer"). And, per
 * RFC 8842 5.5, the answer to a re-offer must not change the role of a DTLS association
 * already established (werift would re-assign it from the answer's `a=setup`).
 */
export const dtlsActpassOffers: WeriftFix = {
  name: 'dtls-actpass-offers',
  apply() {
    const { SDPManager } = weriftModule('webrtc/src/sdpManager.js');
    wrapMethod(SDPManager.prototype, 'buildOfferSdp', (original) =>
      function (this: unknown, ...args: unknown[]) {
        const description = original.apply(this, args);
        for (const media of description.media) {
          if (media.dtlsParams) media.dtlsParams.role = 'auto'; // printed as actpass
        }
        return description;
      },
    );
    const { RTCPeerConnection } = weriftModule('webrtc/src/peerConnection.js');
    wrapMethod(RTCPeerConnection.prototype, 'setRemoteDescription', (original) =>
      async function (this: { dtlsTransports: { state: string; role: string }[] }, ...args: any[]) {
        if (args[0]?.type !== 'answer') return original.apply(this, args);
        // Pin the role of every association past `new` while werift applies the answer.
        const pinned = this.dtlsTransports.filter((t) => t.state !== 'new');
        for (const t of pinned) {
          const role = t.role;
          Object.defineProperty(t, 'role', { configurable: true, enumerable: true, get: () => role, set: () => undefined });
        }
        try {
          return await original.apply(this, args);
        } finally {
          for (const t of pinned) {
            const role = t.role;
            Object.defineProperty(t, 'role', { configurable: true, enumerable: true, writable: true, value: role });
          }
        }
      },
    );
  },
};
