import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/** What this fix adds to werift's `RTCDtlsTransport` (read by src/session/video-feed.ts). */
export interface PeerConfirmation {
  /**
   * Whether the peer has shown that its side of the handshake is done, so that it can
   * decrypt SRTP: we were the DTLS client (the server's Finished was the last flight), or
   * the peer sent DTLS application data (SCTP) or SRTCP that decrypted.
   */
  peerConfirmed?: boolean;
  /** Called once when `peerConfirmed` becomes true. */
  onPeerConfirmed?: Set<() => void>;
}

type Transport = PeerConfirmation & {
  role: string;
  dtls?: { onData: { subscribe(fn: () => void): { unSubscribe(): void } } };
  onRtcp: { subscribe(fn: () => void): { unSubscribe(): void } };
};

/**
 * As DTLS server, werift is `connected` when it has sent its Finished; the peer is still
 * verifying it, and SRTP that reaches it before it has its keys is dropped. werift offers no
 * way to know when the peer is done. The transport now records the first sign of it (the
 * peer's first application data or SRTCP, or at once when werift was the DTLS client) as
 * `peerConfirmed`, with `onPeerConfirmed` listeners, so that the first packets a viewer must
 * not lose (the cached keyframe) wait for it.
 */
export const dtlsPeerConfirmed: WeriftFix = {
  name: 'dtls-peer-confirmed',
  apply() {
    const { RTCDtlsTransport } = weriftModule('webrtc/src/transport/dtls.js');
    wrapMethod(RTCDtlsTransport.prototype, 'startSrtp', (original) =>
      function (this: Transport, ...args: unknown[]) {
        const first = !this.onPeerConfirmed;
        this.onPeerConfirmed ??= new Set();
        const result = original.apply(this, args);
        if (!first || this.peerConfirmed) return result;
        // startSrtp runs right after the handshake, before `connected` is set: nothing has
        // been received since, so no sign is missed.
        if (this.role === 'client' || !this.dtls) {
          confirmOnce(this);
          return result;
        }
        const done = () => {
          for (const s of subs.splice(0)) s.unSubscribe();
          confirmOnce(this);
        };
        const subs = [this.dtls.onData.subscribe(done), this.onRtcp.subscribe(done)];
        return result;
      },
    );
  },
};

function confirmOnce(t: Transport): void {
  if (t.peerConfirmed) return;
  t.peerConfirmed = true;
  const listeners = [...(t.onPeerConfirmed ?? [])];
  t.onPeerConfirmed?.clear();
  for (const fn of listeners) fn();
}
