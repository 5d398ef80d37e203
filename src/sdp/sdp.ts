import { parse, type MediaDescription, type SessionDescription } from 'sdp-transform';

/**
 * Every server-side read of an SDP goes through here, on `sdp-transform` (the parser
 * mediasoup and Janus's JS tools use) rather than regexes spread over the code. Note that
 * sdp-transform turns numeric-looking values into numbers (`a=mid:0` -> 0): compare as strings.
 */

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** One codec of an SDP media section. */
export interface SdpCodec {
  payloadType: number;
  name: string;
  clockRate: number;
  /** fmtp parameters, keys lower-cased, values as written (see `fmtpParams`). */
  fmtp: Record<string, string>;
}

/** The last few parsed: a negotiation reads its offer and its answer several times, in turns. */
const recent: { sdp: string; parsed: SessionDescription }[] = [];
const RECENT = 4;

/** The parsed SDP (kept for the next reads of the same text). */
export function parseSdp(sdp: string): SessionDescription {
  const hit = recent.find((r) => r.sdp === sdp);
  if (hit) return hit.parsed;
  const parsed = parse(sdp);
  recent.unshift({ sdp, parsed });
  if (recent.length > RECENT) recent.pop();
  return parsed;
}

/** Whether a text is an SDP description (starts with `v=0`) with at least one m-line. */
export function isDescriptionWithMedia(text: string): boolean {
  return /^v=0\r?\n/.test(text) && mediaCount(text) > 0;
}

/** The number of m-lines. */
export function mediaCount(sdp: string): number {
  return parseSdp(sdp).media.length;
}

/** Whether the SDP has a data-channel m-line. */
export function hasDataChannel(sdp: string): boolean {
  return parseSdp(sdp).media.some((m) => m.type === 'application');
}

/** Whether the SDP has a video m-line that is not rejected (port 0). */
export function hasLiveVideo(sdp: string): boolean {
  return parseSdp(sdp).media.some((m) => m.type === 'video' && m.port !== 0);
}

/** The media section with this mid. */
export function mediaByMid(sdp: string | undefined, mid: string | null | undefined): MediaDescription | undefined {
  if (sdp === undefined || mid == null) return undefined;
  return parseSdp(sdp).media.find((m) => m.mid !== undefined && String(m.mid) === mid);
}

/** Whether the m-line with this mid is rejected (port 0). */
export function rejects(sdp: string | undefined, mid: string | null | undefined): boolean {
  return mediaByMid(sdp, mid)?.port === 0;
}

/** Whether the m-line with this mid receives (recvonly or sendrecv, and not rejected). */
export function receives(sdp: string | undefined, mid: string | null | undefined): boolean {
  const m = mediaByMid(sdp, mid);
  if (!m || m.port === 0) return false;
  const direction: Direction = m.direction ?? 'sendrecv';
  return direction === 'recvonly' || direction === 'sendrecv';
}

/** The BUNDLE tag: the first mid of the BUNDLE group (the m-line whose transport the others share). */
export function bundleTag(sdp: string | undefined): string | undefined {
  if (!sdp) return undefined;
  const group = parseSdp(sdp).groups?.find((g) => g.type === 'BUNDLE');
  const first = group ? String(group.mids).split(' ')[0] : undefined;
  return first || undefined;
}

/** The ICE username fragment: session level, else the first m-line's. */
export function iceUfragOf(sdp: string | undefined): string | undefined {
  if (!sdp) return undefined;
  const parsed = parseSdp(sdp);
  const ufrag = parsed.iceUfrag ?? parsed.media.find((m) => m.iceUfrag !== undefined)?.iceUfrag;
  return ufrag === undefined ? undefined : String(ufrag);
}

/** The codecs of the first video m-line (empty when there is none, or it is rejected). */
export function videoCodecsOf(sdp: string): SdpCodec[] {
  const video = parseSdp(sdp).media.find((m) => m.type === 'video');
  if (!video || video.port === 0) return [];
  const codecs = new Map<number, SdpCodec>();
  for (const r of video.rtp) {
    codecs.set(r.payload, { payloadType: r.payload, name: String(r.codec), clockRate: r.rate ?? 0, fmtp: {} });
  }
  for (const f of video.fmtp) {
    const codec = codecs.get(f.payload);
    if (codec) Object.assign(codec.fmtp, fmtpParams(String(f.config)));
  }
  return [...codecs.values()];
}

/**
 * An fmtp line's parameters (`a=fmtp:96 key=value;key=value`), keys lower-cased. A value is
 * everything after the first `=`: base64 values (`sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==`)
 * keep their padding. Values stay strings (sdp-transform's own parseParams makes `1` a number).
 */
export function fmtpParams(config: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const part of config.split(';')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (key) params[key] = eq < 0 ? '' : part.slice(eq + 1).trim();
  }
  return params;
}
