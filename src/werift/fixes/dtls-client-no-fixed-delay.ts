import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

const connecting = Symbol('connecting');

/**
 * As DTLS client, werift waits a fixed 100 ms (`await setTimeout(100)` in
 * `RTCDtlsTransport.start`) between ICE connected and its ClientHello: 100 ms added to
 * every first frame where werift is the client. The ClientHello now goes out at once
 * (flight 1 retransmits on loss, as any datagram); werift's own call 100 ms later finds
 * the handshake already running and does nothing.
 */
export const dtlsClientNoFixedDelay: WeriftFix = {
  name: 'dtls-client-no-fixed-delay',
  apply() {
    const { DtlsClient } = weriftModule('dtls/src/client.js');
    const { RTCDtlsTransport } = weriftModule('webrtc/src/transport/dtls.js');
    wrapMethod(DtlsClient.prototype, 'connect', (original) =>
      function (this: { [connecting]?: Promise<void> }, ...args: unknown[]) {
        return (this[connecting] ??= original.apply(this, args));
      },
    );
    wrapMethod(RTCDtlsTransport.prototype, 'start', (original) =>
      function (this: { dtls?: unknown; setState(s: string): void }, ...args: unknown[]) {
        const before = this.dtls;
        // start() runs synchronously up to its fixed wait: the client exists, its
        // listeners are attached, and nothing has been sent yet.
        const started = original.apply(this, args);
        const dtls = this.dtls;
        if (dtls !== before && dtls instanceof DtlsClient) {
          (dtls as { connect(): Promise<void> }).connect().catch(() => this.setState('failed'));
        }
        return started;
      },
    );
  },
};
