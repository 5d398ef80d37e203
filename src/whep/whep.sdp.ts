import type { IceCandidateInit, IceServerConfig } from '../protocol';

/** What a WHEP PATCH body (`application/trickle-ice-sdpfrag`, RFC 8840) carries. */
export interface SdpFragment {
  /** Session-level or first media-level credentials, when given (a new ufrag = an ICE restart). */
  ufrag?: string;
  pwd?: string;
  candidates: IceCandidateInit[];
  endOfCandidates: boolean;
}

/** Splits an SDP into its session part and its media sections (each starting with `m=`). */
function sections(sdp: string): { session: string[]; media: string[][] } {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const session: string[] = [];
  const media: string[][] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) media.push([line]);
    else if (media.length) media[media.length - 1].push(line);
    else session.push(line);
  }
  return { session, media };
}

const attr = (lines: string[], name: string) =>
  lines.find((l) => l.startsWith(`a=${name}:`))?.slice(name.length + 3).trim();

/**
 * Parses a trickle-ice-sdpfrag. Candidates carry the `a=mid` of their media section (and its
 * index among the fragment's sections); a fragment without `m=` lines applies to the first
 * m-line. Throws on anything that is not such a fragment.
 */
export function parseSdpFragment(body: string): SdpFragment {
  if (body.length > 64 * 1024) throw new Error('fragment too large');
  const { session, media } = sections(body);
  for (const line of [...session, ...media.flat()]) {
    if (!/^[a-z]=/.test(line)) throw new Error('not an SDP fragment');
  }
  const ufrag = attr(session, 'ice-ufrag') ?? media.map((m) => attr(m, 'ice-ufrag')).find(Boolean);
  const pwd = attr(session, 'ice-pwd') ?? media.map((m) => attr(m, 'ice-pwd')).find(Boolean);
  const candidates: IceCandidateInit[] = [];
  let endOfCandidates = session.includes('a=end-of-candidates');
  const groups = media.length ? media : [session];
  groups.forEach((lines, index) => {
    const mid = attr(lines, 'mid') ?? null;
    for (const line of lines) {
      if (line === 'a=end-of-candidates') endOfCandidates = true;
      if (!line.startsWith('a=candidate:')) continue;
      candidates.push({
        candidate: line.slice(2),
        sdpMid: mid,
        sdpMLineIndex: mid === null ? index : null,
        usernameFragment: ufrag ?? null,
      });
    }
  });
  return { ufrag, pwd, candidates, endOfCandidates };
}

/** The remote description's ICE username fragment (session level or first m-line). */
export { iceUfragOf } from '../sdp/sdp';

/**
 * An answer with the server's candidates: a WHEP client cannot be sent candidates later,
 * so every gathered one goes into the answer (each into the section of its mid, else the
 * first one that is not rejected), followed by `a=end-of-candidates`.
 */
export function withCandidates(sdp: string, candidates: IceCandidateInit[]): string {
  if (/^a=candidate:/m.test(sdp) || candidates.length === 0) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const { session, media } = sections(sdp);
  const live = media.findIndex((m) => !/^m=\S+ 0 /.test(m[0]));
  if (live < 0) return sdp;
  for (const c of candidates) {
    const byMid = media.findIndex((m) => c.sdpMid != null && attr(m, 'mid') === c.sdpMid);
    const target = media[byMid >= 0 ? byMid : live];
    target.push(`a=${c.candidate.replace(/^a=/, '')}`);
  }
  for (const m of media) if (m.some((l) => l.startsWith('a=candidate:'))) m.push('a=end-of-candidates');
  return [...session, ...media.flat()].join(eol) + eol;
}

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
