import type { IceCandidateInit } from '../protocol';
import { parseSdp } from './sdp';

/**
 * WHEP's SDP pieces, line by line where they must stay byte for byte: trickle-ice-sdpfrag
 * bodies (RFC 8840; their candidate lines go to werift as written) and the answer with the
 * server's candidates added (the rest of the answer is left as werift wrote it).
 */

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

/**
 * An answer with the server's candidates: a WHEP client cannot be sent candidates later,
 * so every gathered one goes into the answer (each into the section of its mid, else the
 * first one that is not rejected), followed by `a=end-of-candidates`.
 */
export function withCandidates(sdp: string, candidates: IceCandidateInit[]): string {
  if (candidates.length === 0 || parseSdp(sdp).media.some((m) => m.candidates?.length)) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const { session, media } = sections(sdp);
  const ports = parseSdp(sdp).media.map((m) => m.port);
  const live = media.findIndex((_, i) => ports[i] !== 0);
  if (live < 0) return sdp;
  for (const c of candidates) {
    const byMid = media.findIndex((m) => c.sdpMid != null && attr(m, 'mid') === c.sdpMid);
    const target = media[byMid >= 0 ? byMid : live];
    target.push(`a=${c.candidate.replace(/^a=/, '')}`);
  }
  for (const m of media) if (m.some((l) => l.startsWith('a=candidate:'))) m.push('a=end-of-candidates');
  return [...session, ...media.flat()].join(eol) + eol;
}


/**
 * The offer that restarts ICE on a WHEP session (RFC 9725 section 4.3.2): the client's last
 * offer with the new credentials of its PATCH in every media section, and without the old
 * candidates (the new ones come in the same PATCH).
 */
export function restartOffer(lastOffer: string, ufrag: string, pwd: string): string {
  const eol = lastOffer.includes('\r\n') ? '\r\n' : '\n';
  const lines = lastOffer
    .split(/\r?\n/)
    .filter((l) => l.length > 0 && !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .map((l) => (l.startsWith('a=ice-ufrag:') ? `a=ice-ufrag:${ufrag}` : l.startsWith('a=ice-pwd:') ? `a=ice-pwd:${pwd}` : l));
  return lines.join(eol) + eol;
}

/**
 * The body of the 200 answering an ICE restart PATCH: the server's new credentials and its
 * candidates, in a trickle-ice-sdpfrag (RFC 8840) with one section per media line that is
 * not rejected (its `m=` line and `a=mid`), each ending with `a=end-of-candidates`.
 */
export function restartFragment(answer: string, candidates: IceCandidateInit[]): string {
  const parsed = parseSdp(answer);
  const live = parsed.media.filter((m) => m.port !== 0);
  const ufrag = parsed.iceUfrag ?? live.find((m) => m.iceUfrag)?.iceUfrag;
  const pwd = parsed.icePwd ?? live.find((m) => m.icePwd)?.icePwd;
  if (!ufrag || !pwd) throw new Error('the answer has no ICE credentials');
  const out = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`];
  const bundle = parsed.groups?.find((g) => g.type === 'BUNDLE');
  if (bundle) out.push(`a=group:BUNDLE ${bundle.mids}`);
  live.forEach((m, i) => {
    const mid = m.mid === undefined ? undefined : String(m.mid);
    out.push(`m=${m.type} 9 ${m.protocol} ${m.payloads ?? '0'}`);
    if (mid !== undefined) out.push(`a=mid:${mid}`);
    // With BUNDLE the candidates belong to the first section only.
    if (i === 0 || !bundle) {
      for (const c of candidates) out.push(`a=${c.candidate.replace(/^a=/, '')}`);
    }
    out.push('a=end-of-candidates');
  });
  return out.join('\r\n') + '\r\n';
}
