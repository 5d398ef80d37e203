import type { IceServerConfig } from '../protocol';

export type { SdpFragment } from '../sdp/fragment';
export { parseSdpFragment, restartFragment, restartOffer, withCandidates } from '../sdp/fragment';
export { iceUfragOf } from '../sdp/sdp';

/** `Link` header values for ICE servers (RFC 9725 section 4.6). */
export function iceServerLinks(servers: IceServerConfig[]): string[] {
  const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
  return servers.flatMap((s) =>
    (Array.isArray(s.urls) ? s.urls : [s.urls]).map((url) => {
      let link = `<${url}>; rel="ice-server"`;
      if (s.username !== undefined) link += `; username=${quote(s.username)}`;
      if (s.credential !== undefined) link += `; credential=${quote(s.credential)}; credential-type="password"`;
      return link;
    }),
  );
}
