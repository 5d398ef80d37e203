import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * `RTCSctpTransport.setDtlsTransport()` with another DTLS transport (a re-offer that moves
 * the data channel's m-line to a transport of its own, e.g. out of the BUNDLE group) makes a
 * new SCTP association and drops the old one without stopping it. The old one stays
 * ESTABLISHED: its heartbeat timer re-arms itself every 30 s for ever, and holds the old
 * association, its DTLS transport and what they reference, after the peer connection has
 * closed. Now the replaced association is stopped (ABORT, timers cleared).
 */
export const sctpStopReplacedAssociation: WeriftFix = {
  name: 'sctp-stop-replaced-association',
  apply() {
    const { RTCSctpTransport } = weriftModule('webrtc/src/transport/sctp.js');
    wrapMethod(RTCSctpTransport.prototype, 'setDtlsTransport', (original) =>
      function (this: { sctp?: { stop(): Promise<void> } }, ...args: unknown[]) {
        const before = this.sctp;
        const result = original.apply(this, args);
        if (before && this.sctp !== before) before.stop().catch(() => undefined);
        return result;
      },
    );
  },
};
