import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

interface HeaderExtension {
  id: number;
  uri: string;
}
interface Transceiver {
  kind: string;
  headerExtensions: HeaderExtension[];
}
interface PeerConnection {
  config: { headerExtensions: Record<string, HeaderExtension[] | undefined> };
  transceiverManager: { getTransceivers(): Transceiver[] };
  sdpManager?: { _remoteDescription?: { media?: { rtp?: { headerExtensions?: HeaderExtension[] } }[] } };
  [seenIds]?: Map<string, number>;
}

/** Every extension id the peer has used on this connection, by URI (a rejected m-line's answer lists none). */
const seenIds = Symbol('webrtc-oneway.extmap-ids');

/**
 * A transceiver that werift adds to an offer after the first negotiation (a video resumed
 * on a new m-line) got the configured header-extension ids, whatever ids the peer had
 * already negotiated for the same URIs on the connection. When the peer's offer chose them
 * (Firefox: `sdes:mid` is 3, werift's configured transport-cc is 3), the browser refuses
 * the re-offer: "Remote description attempted to remap RTP extension id 3". RFC 8285 and
 * JSEP 5.2.2 want an extension's id kept for the whole session (one RTP session in a
 * BUNDLE). So a new transceiver takes the id already in use for each URI, and a URI not
 * yet used gets an id no other URI holds.
 */
export const extmapIdsInBundle: WeriftFix = {
  name: 'extmap-ids-in-bundle',
  apply() {
    const { RTCPeerConnection } = weriftModule('webrtc/src/peerConnection.js');
    const { RTCRtpHeaderExtensionParameters } = weriftModule('webrtc/src/media/parameters.js');
    if (typeof RTCRtpHeaderExtensionParameters !== 'function') throw new Error('RTCRtpHeaderExtensionParameters is missing');
    wrapMethod(RTCPeerConnection.prototype, 'setRemoteDescription', (original) =>
      async function (this: PeerConnection, ...args: unknown[]) {
        const result = await original.apply(this, args);
        const seen = (this[seenIds] ??= new Map());
        for (const m of this.sdpManager?._remoteDescription?.media ?? []) {
          for (const e of m.rtp?.headerExtensions ?? []) if (!seen.has(e.uri)) seen.set(e.uri, e.id);
        }
        return result;
      },
    );
    wrapMethod(RTCPeerConnection.prototype, 'createOffer', (original) =>
      function (this: PeerConnection, ...args: unknown[]) {
        const transceivers = this.transceiverManager?.getTransceivers() ?? [];
        const fresh = transceivers.filter((t) => t.headerExtensions.length === 0);
        const seen = this[seenIds];
        if (fresh.length && (seen?.size || fresh.length < transceivers.length)) {
          const idOf = new Map<string, number>(seen);
          for (const t of transceivers) for (const e of t.headerExtensions) if (!idOf.has(e.uri)) idOf.set(e.uri, e.id);
          const taken = new Set(idOf.values());
          for (const t of fresh) {
            t.headerExtensions = (this.config.headerExtensions[t.kind] ?? []).map((e) => {
              let id = idOf.get(e.uri);
              if (id === undefined) {
                id = taken.has(e.id) ? firstFree(taken) : e.id;
                idOf.set(e.uri, id);
                taken.add(id);
              }
              return new RTCRtpHeaderExtensionParameters({ id, uri: e.uri }) as HeaderExtension;
            });
          }
        }
        return original.apply(this, args);
      },
    );
  },
};

/** The lowest one-byte-header id (1-14) not taken. */
function firstFree(taken: Set<number>): number {
  for (let id = 1; id <= 14; id++) if (!taken.has(id)) return id;
  throw new Error('no free RTP header extension id');
}
