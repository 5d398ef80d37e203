import { parseProfileLevelId, Profile } from 'h264-profile-level-id';
import { RTCRtpCodecParameters, useH264, useOPUS, useVP8 } from 'werift';
import { fmtpParams, videoCodecsOf } from '../sdp/sdp';
import type { VideoCodecName } from './media-source';

/** The H.264 codec the server offers: packetization-mode 1 with this profile-level-id. */
export function h264Codec(profileLevelId: string): RTCRtpCodecParameters {
  return useH264({ parameters: `profile-level-id=${profileLevelId.toLowerCase()};packetization-mode=1;level-asymmetry-allowed=1` });
}


/** H.264 profiles as RFC 6184 / WebRTC name them (level ignored). */
export type H264Profile = 'constrained-baseline' | 'baseline' | 'main' | 'constrained-high' | 'high' | 'other';

/**
 * The profile of a profile-level-id (6 hex digits: profile_idc, constraint flags, level_idc),
 * read by libwebrtc's own rules (`h264-profile-level-id`, a port of its h264_profile_level_id.cc):
 * the browser classifies an offer the same way. An id it does not recognise (reserved bits set,
 * unknown level) is `other`.
 */
export function h264Profile(profileLevelId: string): H264Profile {
  const parsed = parseProfileLevelId(profileLevelId.toLowerCase());
  return parsed ? PROFILE_NAMES[parsed.profile] ?? 'other' : 'other';
}

const PROFILE_NAMES: Partial<Record<Profile, H264Profile>> = {
  [Profile.ConstrainedBaseline]: 'constrained-baseline',
  [Profile.Baseline]: 'baseline',
  [Profile.Main]: 'main',
  [Profile.ConstrainedHigh]: 'constrained-high',
  [Profile.High]: 'high',
};

/**
 * Profiles whose decoders also decode a stream of the given profile, best match first. Our
 * own table, not the package's `isSameProfile` (libwebrtc's codec matching): that accepts
 * only the same profile, and would refuse a constrained-baseline source to a browser that
 * offers only main or high, whose decoders play it.
 */
const DECODABLE_BY: Record<H264Profile, H264Profile[]> = {
  'constrained-baseline': ['constrained-baseline', 'baseline', 'main', 'constrained-high', 'high'],
  baseline: ['baseline'],
  main: ['main', 'high'],
  'constrained-high': ['constrained-high', 'high'],
  high: ['high'],
  other: [],
};

export type { SdpCodec } from '../sdp/sdp';
export { videoCodecsOf };

/** A viewer-facing description of a source's codec (to check against `RTCRtpReceiver.getCapabilities`). */
export function codecDescription(params: RTCRtpCodecParameters): { mimeType: string; sdpFmtpLine?: string } {
  return { mimeType: params.mimeType, ...(params.parameters ? { sdpFmtpLine: params.parameters } : {}) };
}

/**
 * The codec werift should negotiate when a client's offer already has a video m-line: the
 * source's codec as the offer spells it. VP8 needs VP8 offered. H.264 needs packetization-mode
 * 1 and a profile whose decoder also decodes the source's profile (exact profile first; the
 * level may differ, as `level-asymmetry-allowed` permits); werift wants the offered
 * profile-level-id string exactly, so that is the one returned. `undefined` = the client
 * cannot receive this source.
 */
export function codecForOffer(
  codec: VideoCodecName,
  sourceParams: RTCRtpCodecParameters,
  offerSdp: string,
): RTCRtpCodecParameters | undefined {
  const offered = videoCodecsOf(offerSdp);
  if (codec === 'VP8') return offered.some((c) => c.name.toUpperCase() === 'VP8') ? sourceParams : undefined;
  const ownPli = fmtpParams(sourceParams.parameters ?? '')['profile-level-id'];
  const sourcePli = ownPli && /^[0-9a-f]{6}$/i.test(ownPli) ? ownPli : '42e01f';
  const candidates = offered.filter(
    (c) =>
      c.name.toUpperCase() === 'H264' &&
      c.fmtp['packetization-mode'] === '1' &&
      /^[0-9a-f]{6}$/i.test(c.fmtp['profile-level-id'] ?? ''),
  );
  const exact = candidates.find((c) => c.fmtp['profile-level-id'].toLowerCase() === sourcePli.toLowerCase());
  if (exact) return sourceParams;
  for (const profile of DECODABLE_BY[h264Profile(sourcePli)]) {
    const match = candidates.find((c) => h264Profile(c.fmtp['profile-level-id']) === profile);
    if (match) {
      return h264Codec(match.fmtp['profile-level-id']);
    }
  }
  return undefined;
}

/** H.264 Constrained Baseline level 3.1: what werift's `useH264()` offers. */
export const DEFAULT_H264_PROFILE_LEVEL_ID = '42e01f';

/** The werift codec for a source: VP8, or H.264 packetization-mode 1 with a profile-level-id. */
export function codecParametersFor(codec: VideoCodecName, profileLevelId = DEFAULT_H264_PROFILE_LEVEL_ID): RTCRtpCodecParameters {
  if (codec === 'VP8') return useVP8();
  if (!/^[0-9a-f]{6}$/i.test(profileLevelId)) throw new Error(`invalid H.264 profile-level-id: ${profileLevelId}`);
  return h264Codec(profileLevelId);
}

/**
 * The profile-level-id a source offers: a fixed string, or `auto` = the one read from the
 * stream's SPS once seen (until then the default, 42e01f).
 */
export type ProfileLevelIdOption = string | 'auto';

/**
 * Checks a source's profile option up front (a bad one fails at construction, not at the
 * first viewer) and returns how to get its codec parameters: `auto` takes the
 * profile-level-id detected in the stream when there is one.
 */
export function codecChoice(
  codec: VideoCodecName,
  option: ProfileLevelIdOption = DEFAULT_H264_PROFILE_LEVEL_ID,
): (detected?: string) => RTCRtpCodecParameters {
  if (option !== 'auto') codecParametersFor(codec, option);
  return (detected) => codecParametersFor(codec, option === 'auto' ? detected : option);
}

/** Audio codecs a source can carry. Browsers decode Opus everywhere; AAC or G.711 is transcoded to it. */
export type AudioCodecName = 'opus';

/** The RTP payload type ffmpeg is told to use for Opus (the receiver takes only this one). */
export const OPUS_PAYLOAD_TYPE = 111;

/** RTP clock of Opus (RFC 7587: always 48 kHz, two channels in the SDP whatever is sent). */
export const OPUS_CLOCK_RATE = 48_000;

/**
 * The werift codec for a source's audio: Opus 48 kHz/2 with in-band FEC allowed (what
 * browsers offer), `minptime=10`. When a browser offers, werift answers with the browser's
 * payload type and parameters.
 */
export function audioCodecParameters(codec: AudioCodecName): RTCRtpCodecParameters {
  if (codec !== 'opus') throw new Error(`unsupported audio codec: ${String(codec)}`);
  return useOPUS({ parameters: 'minptime=10;useinbandfec=1' });
}
