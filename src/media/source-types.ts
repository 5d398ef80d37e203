import type { RtpPacket } from 'werift';

// The types of a MediaSource's surface (re-exported by media-source.ts).

export type VideoCodecName = 'VP8' | 'H264';

/** `idle`: an on-demand source that no viewer needs now (nothing runs). */
export type SourceState = 'idle' | 'starting' | 'live' | 'offline' | 'stopped';

/** An on-demand source's settings: see `MediaSource.setOnDemand`. */
export interface OnDemandOptions {
  /** How long the source keeps running after its last viewer left (ms). */
  lingerMs: number;
}

/** Events of `MediaSource.events`. */
export interface MediaSourceEvents {
  /** The state changed (e.g. `live` -> `offline` when an ingest goes silent, and back). */
  state: [state: SourceState, previous: SourceState];
}

/**
 * Sees every packet a source publishes, with its keyframe flag, and the source's end: the
 * media workers' ring writer (src/workers). Not a viewer: it creates no demand and is not counted.
 */
export interface PublishTap {
  packet(packet: RtpPacket, keyframeStart: boolean): void;
  /** Every audio packet (Opus RTP) the source publishes, listeners or not. */
  audio?(packet: RtpPacket): void;
  ended(reason: string): void;
}

export interface SourceInfo {
  id: string;
  kind: string;
  codec: VideoCodecName;
  state: SourceState;
  viewers: number;
  /** The codec as `RTCRtpReceiver.getCapabilities('video')` lists it (`video/VP8`, `video/H264`). */
  mimeType: string;
  /** H.264: the parameters the server offers (profile-level-id, packetization-mode). */
  sdpFmtpLine?: string;
  /** The source's audio codec as `RTCRtpReceiver.getCapabilities('audio')` lists it (`audio/opus`); absent without audio. */
  audioMimeType?: string;
}
