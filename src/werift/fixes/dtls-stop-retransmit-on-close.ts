import { setTimeout as sleep } from 'node:timers/promises';
import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * A DTLS handshake interrupted by `close()` (the viewer went away mid-handshake) kept
 * retransmitting its flight for about 33 s into a closed transport, and kept the process
 * alive. `Flight.transmit` now stops once the socket is closed.
 */
export const dtlsStopRetransmitOnClose: WeriftFix = {
  name: 'dtls-stop-retransmit-on-close',
  apply() {
    const { DtlsSocket } = weriftModule('dtls/src/socket.js');
    wrapMethod(DtlsSocket.prototype, 'close', (original) =>
      function (this: { dtls?: { closed?: boolean } }, ...args: unknown[]) {
        if (this.dtls) this.dtls.closed = true;
        return original.apply(this, args);
      },
    );
    const { Flight } = weriftModule('dtls/src/flight/flight.js');
    if (typeof Flight.prototype.transmit !== 'function' || typeof Flight.RetransmitCount !== 'number') {
      throw new Error('Flight.transmit or Flight.RetransmitCount is missing');
    }
    // werift's own loop (flight.ts), with the `closed` check after each wait.
    Flight.prototype.transmit = async function (this: any, buffers: Buffer[]) {
      let retransmitCount = 0;
      for (; retransmitCount <= Flight.RetransmitCount; retransmitCount++) {
        this.setState('SENDING');
        this.send(buffers).catch(() => undefined); // a lost datagram is what retransmission is for
        this.setState('WAITING');
        if (this.nextFlight === undefined) {
          this.setState('FINISHED');
          break;
        }
        await sleep(1000 * ((retransmitCount + 1) / 2));
        if (this.dtls.closed) {
          this.setState('FINISHED');
          return;
        }
        if (this.dtls.flight >= this.nextFlight) {
          this.setState('FINISHED');
          break;
        }
      }
      if (retransmitCount > Flight.RetransmitCount) {
        throw new Error(`over retransmitCount : ${this.flight} ${this.nextFlight}`);
      }
    };
  },
};
