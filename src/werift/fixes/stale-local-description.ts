import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

const applied = Symbol('appliedLocalDescriptions');

/**
 * `setLocalDescription` applies its description twice, before and after ICE gathering.
 * When a newer negotiation completed during gathering, the second application replaced
 * the current local description with the stale one, and the next offer lost m-lines (a
 * video added by a renegotiation vanished from the stop offer). A description applied
 * before is re-applied only while it is still the current one.
 */
export const staleLocalDescription: WeriftFix = {
  name: 'stale-local-description',
  apply() {
    const { SDPManager } = weriftModule('webrtc/src/sdpManager.js');
    if (!('_localDescription' in SDPManager.prototype)) throw new Error('SDPManager._localDescription is missing');
    wrapMethod(SDPManager.prototype, 'setLocal', (original) =>
      function (this: { [applied]?: WeakSet<object>; _localDescription?: object }, ...args: any[]) {
        const description = args[0] as object;
        const seen = (this[applied] ??= new WeakSet());
        if (seen.has(description) && description !== this._localDescription) return;
        seen.add(description);
        return original.apply(this, args);
      },
    );
  },
};
