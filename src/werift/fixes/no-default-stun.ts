import { weriftModule } from '../werift-lib';
import type { WeriftFix } from './fix';

/**
 * werift falls back to a public Google STUN server (stun.l.google.com:19302) when none is
 * configured: DNS and STUN traffic off the host nobody asked for, and on a closed network
 * a lookup that stalls ICE. Use a STUN server only when one is configured.
 */
export const noDefaultStun: WeriftFix = {
  name: 'no-default-stun',
  apply() {
    const ice = weriftModule('ice/src/ice.js');
    const iceBase = weriftModule('ice/src/iceBase.js');
    const proto = ice.Connection.prototype;
    if (typeof proto.applyStunTurnServersFromOptions !== 'function') throw new Error('Connection.applyStunTurnServersFromOptions is missing');
    proto.applyStunTurnServersFromOptions = function (this: any) {
      this.stunServer = iceBase.validateAddress(this.options.stunServer);
      this.turnServer = iceBase.validateAddress(this.options.turnServer);
    };
  },
};
