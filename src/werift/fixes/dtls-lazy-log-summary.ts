import { weriftModule } from '../werift-lib';
import { WeriftFix } from './fix';

/** The `debug` namespace of werift's DTLS flights (werift-dtls : packages/dtls/flight/...). */
const DTLS_LOG = 'werift-dtls : packages/dtls/flight/server/flight6.ts';

/**
 * Every DTLS handshake builds a printable summary of its AEAD cipher (hex dumps of the keys
 * and nonces, `getObjectSummary`) only to pass it to a debug log that is off: flight 6
 * (server) and flight 5 (client) call `log(id, "setup cipher", cipher.summary)`, and the
 * getter runs before `log` can decide to print nothing. The getter now builds the summary
 * only when werift's DTLS debug log is on (`DEBUG=werift-dtls*`), and it never ends up in
 * a log otherwise (it also holds the session's keys).
 */
export const dtlsLazyLogSummary: WeriftFix = {
  name: 'dtls-lazy-log-summary',
  apply() {
    const AEADCipher = weriftModule('dtls/src/cipher/suites/aead.js').default;
    const { debug } = weriftModule('common/src/log.js');
    const desc = Object.getOwnPropertyDescriptor(AEADCipher?.prototype ?? {}, 'summary');
    if (!desc?.get) throw new Error('AEADCipher.prototype.summary is not a getter');
    if (typeof debug?.enabled !== 'function') throw new Error("werift's debug has no enabled()");
    const original = desc.get;
    Object.defineProperty(AEADCipher.prototype, 'summary', {
      ...desc,
      get(this: object) {
        return debug.enabled(DTLS_LOG) ? original.call(this) : undefined;
      },
    });
  },
};
