import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

interface IceConnection {
  iceControlling: boolean;
  remoteUsername: string;
  remotePassword: string;
}

/**
 * werift makes its ICE agent controlling whenever it creates an offer, a re-offer included.
 * RFC 8445 (section 6.1.1) and RFC 8839 keep the roles of the initial exchange for the whole
 * ICE session; only a restart decides them anew. This service answers the browser's first
 * offer (controlled) and re-offers at once to add the video, before the browser has
 * nominated a pair: werift turned controlling while the browser was too, answered its checks
 * with 487 Role Conflict, and the browser only connected on a later check, 50-60 ms later
 * (seen in a packet capture of bench/ttff.mjs). An offer on an ICE session that has its peer's
 * credentials (a restart clears them first) now leaves the role as it was.
 */
export const iceRoleKeptInReoffer: WeriftFix = {
  name: 'ice-role-kept-in-reoffer',
  apply() {
    const { SecureTransportManager } = weriftModule('webrtc/src/secureTransportManager.js');
    wrapMethod(SecureTransportManager.prototype, 'setLocalRole', (original) =>
      function (
        this: { dtlsTransports: { iceTransport: { connection: IceConnection } }[] },
        params: { type?: string },
        ...rest: unknown[]
      ) {
        if (params?.type !== 'offer') return original.call(this, params, ...rest);
        const kept = this.dtlsTransports
          .map((t) => t.iceTransport.connection)
          .filter((c) => c.remoteUsername && c.remotePassword)
          .map((c) => [c, c.iceControlling] as const);
        const result = original.call(this, params, ...rest);
        for (const [c, controlling] of kept) c.iceControlling = controlling;
        return result;
      },
    );
  },
};
