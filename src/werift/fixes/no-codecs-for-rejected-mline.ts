import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * `createOffer` gives codecs to every transceiver that has none, stopped ones too, and
 * throws "No codec remains after applying codec preferences" when the kind has no codec
 * configured. So a session whose client offered an audio m-line that we answered rejected
 * (a source without audio: no audio codec configured) could never offer again, and
 * stop-video could not renegotiate. A stopped or rejected m-line is written from its last
 * description (port 0, its old format), never from the transceiver's codecs; `createAnswer`
 * already skips them. Now `createOffer` does too.
 */
export const noCodecsForRejectedMline: WeriftFix = {
  name: 'no-codecs-for-rejected-mline',
  apply() {
    const { TransceiverManager } = weriftModule('webrtc/src/transceiverManager.js');
    wrapMethod(TransceiverManager.prototype, 'assignTransceiverCodecs', (original) =>
      function (this: unknown, transceiver: { stopping?: boolean; stopped?: boolean; pendingRejection?: boolean }, ...rest: unknown[]) {
        if (transceiver.stopping || transceiver.stopped || transceiver.pendingRejection) return;
        return original.call(this, transceiver, ...rest);
      },
    );
  },
};
