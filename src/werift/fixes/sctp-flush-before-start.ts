import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * The SCTP association can reach ESTABLISHED before `RTCSctpTransport.start()` ran: the
 * remote's INIT arrives right after DTLS connects, while this side is still between its
 * DTLS and SCTP start. Queued data channels are then flushed with `dataChannelId`
 * undefined, `streamId.toString()` throws inside an un-awaited async call, and the
 * unhandled rejection ends the Node process (seen in a burst of 200 werift viewers; a
 * server is as exposed as a client). The id parity only needs the ICE role, which is
 * known by then: take it from there when start() has not set it yet.
 */
export const sctpFlushBeforeStart: WeriftFix = {
  name: 'sctp-flush-before-start',
  apply() {
    const { RTCSctpTransport } = weriftModule('webrtc/src/transport/sctp.js');
    const { SCTP_STATE } = weriftModule('sctp/src/const.js');
    if (SCTP_STATE?.ESTABLISHED === undefined) throw new Error('SCTP_STATE.ESTABLISHED is missing');
    if (!Object.getOwnPropertyDescriptor(RTCSctpTransport.prototype, 'isServer')?.get) throw new Error('RTCSctpTransport.isServer is missing');
    wrapMethod(RTCSctpTransport.prototype, 'dataChannelFlush', (original) =>
      function (this: { dataChannelId?: number; isServer: boolean; sctp: { associationState: unknown } }, ...args: unknown[]) {
        // Only once associated: before that the ICE role may not be known, and start() sets it.
        if (this.dataChannelId === undefined && this.sctp.associationState === SCTP_STATE.ESTABLISHED) {
          this.dataChannelId = this.isServer ? 0 : 1; // what start() sets
        }
        return original.apply(this, args);
      },
    );
  },
};
