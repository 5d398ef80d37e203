import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

interface Transport {
  state: string;
  iceTransport: { state: string; connection: { nominated?: unknown }; start(): Promise<void> };
}

/**
 * An ICE restart (a re-offer with a new ufrag/pwd) resets werift's ICE agent and clears the
 * nominated pair, but `RTCPeerConnection.connect()` returns early for a transport whose
 * DTLS is still connected, before it starts ICE again: with no nominated pair nothing is
 * sent, and the browser's restarted connection carries no RTP or data. Such transports
 * now connect ICE first (DTLS, still up, is left alone); then werift's connect() runs.
 */
export const iceRestartConnect: WeriftFix = {
  name: 'ice-restart-connect',
  apply() {
    const { RTCPeerConnection } = weriftModule('webrtc/src/peerConnection.js');
    wrapMethod(RTCPeerConnection.prototype, 'connect', (original) =>
      async function (
        this: { dtlsTransports: Transport[]; secureManager: { setConnectionState(s: string): void } },
        ...args: unknown[]
      ) {
        const restarted = this.dtlsTransports.filter(
          (t) => t.state === 'connected' && t.iceTransport.state !== 'connected' && !t.iceTransport.connection.nominated,
        );
        if (restarted.length) {
          this.secureManager.setConnectionState('connecting');
          const res = await Promise.allSettled(restarted.map((t) => t.iceTransport.start()));
          if (res.some((r) => r.status === 'rejected')) {
            this.secureManager.setConnectionState('failed');
            return;
          }
        }
        return original.apply(this, args);
      },
    );
  },
};
