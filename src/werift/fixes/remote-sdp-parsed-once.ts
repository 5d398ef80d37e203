import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

interface ParseArgs {
  sdp: string;
  isLocal: boolean;
  signalingState: string;
  type: string;
}
const pending = Symbol('webrtc-oneway.previewed-remote-sdp');

/**
 * `setRemoteDescription` parses the same remote SDP twice: once for a preview (to plan the
 * codecs of every m-line without side effects) and once more to apply it, a few lines
 * later, in `SDPManager.setRemoteDescription`; parsing is one of the larger costs of a
 * session's setup. The preview only reads the parsed description, so the second parse of
 * the same text, by the same SDPManager, now takes the preview's object (once: the next
 * call parses again). The validation against the signalling state still runs every time.
 */
export const remoteSdpParsedOnce: WeriftFix = {
  name: 'remote-sdp-parsed-once',
  apply() {
    const { SDPManager } = weriftModule('webrtc/src/sdpManager.js');
    if (typeof SDPManager?.prototype?.validateDescription !== 'function') throw new Error('SDPManager.validateDescription is missing');
    wrapMethod(SDPManager.prototype, 'parseSdp', (original) =>
      function (this: { [pending]?: { args: ParseArgs; description: { type?: string } }; validateDescription(a: object): void }, args: ParseArgs) {
        if (args.isLocal) return original.call(this, args);
        const previewed = this[pending];
        this[pending] = undefined;
        if (previewed && previewed.args.sdp === args.sdp && previewed.args.type === args.type) {
          const description = previewed.description;
          this.validateDescription({ description, isLocal: false, signalingState: args.signalingState, type: args.type });
          description.type = args.type;
          return description;
        }
        const description = original.call(this, args);
        this[pending] = { args, description };
        return description;
      },
    );
  },
};
