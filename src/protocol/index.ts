/**
 * The signalling protocol: one typed map of socket.io events and payloads, shared by the
 * gateway, the browser client library and the tests. Documented in docs/protocol.md.
 *
 * This file must stay free of runtime dependencies (it is bundled into the browser client).
 */

export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  SOURCE_NOT_FOUND: 'SOURCE_NOT_FOUND',
  NEGOTIATION_FAILED: 'NEGOTIATION_FAILED',
  INVALID_STATE: 'INVALID_STATE',
  CAPACITY_EXCEEDED: 'CAPACITY_EXCEEDED',
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  CODEC_NOT_SUPPORTED: 'CODEC_NOT_SUPPORTED',
  UNAUTHORIZED: 'UNAUTHORIZED',
  NO_ICE_CANDIDATE: 'NO_ICE_CANDIDATE',
  RATE_LIMITED: 'RATE_LIMITED',
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** Every client request is answered through the socket.io ack with one of these. */
export type AckOk<T> = { ok: true } & T;
export type AckError = { ok: false; error: ErrorBody };
export type Ack<T = object> = AckOk<T> | AckError;
export type AckFn<T = object> = (response: Ack<T>) => void;

export interface SessionDescriptionOffer {
  type: 'offer';
  sdp: string;
}
export interface SessionDescriptionAnswer {
  type: 'answer';
  sdp: string;
}

/** The fields of RTCIceCandidateInit that travel over the wire. */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/**
 * - `connecting`: negotiating, or waiting for ICE/DTLS.
 * - `streaming`: the video transceiver is live and the connection is up.
 * - `data-only`: the video was stopped (or its source ended); the data channel still works.
 * - `closed`: the session is over and everything it held is released.
 */
export type SessionState = 'connecting' | 'streaming' | 'data-only' | 'closed';

export interface SessionStartRequest {
  /** Id of a media source; the default source when absent. */
  source?: string;
  /** The client's offer (recvonly video + a data channel). Without it the server offers. */
  offer?: SessionDescriptionOffer;
}
export type SessionStartResult =
  | { sessionId: string; answer: SessionDescriptionAnswer }
  | { sessionId: string; offer: SessionDescriptionOffer };

export interface SessionAnswerRequest {
  sessionId: string;
  answer: SessionDescriptionAnswer;
}
export interface SessionOfferRequest {
  sessionId: string;
  offer: SessionDescriptionOffer;
}
export interface SessionOfferResult {
  answer: SessionDescriptionAnswer;
}
export interface SessionCandidateRequest {
  sessionId: string;
  /** null (or an empty candidate string) marks the end of candidates. */
  candidate: IceCandidateInit | null;
}
export interface SessionIdRequest {
  sessionId: string;
}

/** What `session:stop-video` / `session:resume-video` act on: all media (no `kind`), or one kind. */
export type MediaKind = 'video' | 'audio';
export const MEDIA_KINDS: readonly MediaKind[] = ['video', 'audio'];
export interface SessionMediaRequest extends SessionIdRequest {
  /** Only this kind; without it, the video and the audio together. */
  kind?: MediaKind;
}

export interface SessionCandidateEvent {
  sessionId: string;
  candidate: IceCandidateInit | null;
}
export interface SessionOfferEvent {
  sessionId: string;
  offer: SessionDescriptionOffer;
}
export interface SessionStateEvent {
  sessionId: string;
  state: SessionState;
  reason?: string;
}

/** An ICE server as RTCPeerConnection takes it. */
export interface IceServerConfig {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** What a client needs before it negotiates (`config:get`). */
export interface ServerConfig {
  /** ICE servers for the browser's RTCPeerConnection (the ones the server uses, unless configured apart). */
  iceServers: IceServerConfig[];
}

/** A media source as `sources:list` describes it. */
export interface SourceDescription {
  /** The name to pass as `session:start { source }`. */
  id: string;
  /** `test`, `rtp`, `rtsp` or `file` (or an application's own kind). */
  kind: string;
  codec: 'VP8' | 'H264';
  /**
   * `starting`, `live`, `offline` (no media for a while; viewers resume by themselves),
   * `stopped` (ended), `idle` (an on-demand source nobody watches: it starts for a viewer).
   */
  state: 'idle' | 'starting' | 'live' | 'offline' | 'stopped';
  /** Sessions currently fed by this source. */
  viewers: number;
  /** The codec as `RTCRtpReceiver.getCapabilities('video').codecs` lists it: `video/VP8`, `video/H264`. */
  mimeType: string;
  /** H.264: the parameters the server offers (`profile-level-id=...;packetization-mode=1;...`). */
  sdpFmtpLine?: string;
  /** `audio/opus` when the source carries audio; absent for a video-only source. */
  audioMimeType?: string;
}
export interface SourcesListResult {
  sources: SourceDescription[];
}

/**
 * Whether a receiver with these capabilities (`RTCRtpReceiver.getCapabilities('video')`) can
 * decode a source: VP8 by name; H.264 with packetization-mode 1 and the same profile (the
 * level may differ). A client checks this before `session:start` to fail early and clearly.
 */
export function canReceive(
  capabilities: { codecs: { mimeType: string; sdpFmtpLine?: string }[] } | null | undefined,
  source: Pick<SourceDescription, 'mimeType' | 'sdpFmtpLine'>,
): boolean {
  const wanted = source.mimeType.toLowerCase();
  // An fmtp line's value for `key` (no SDP here: a capability's `sdpFmtpLine`; this file is
  // runtime-free for the client, so it does not import the server's SDP module).
  const param = (line: string | undefined, key: string): string | undefined =>
    (line ?? '')
      .split(';')
      .filter((part) => part.includes('='))
      .map((part) => [part.slice(0, part.indexOf('=')).trim().toLowerCase(), part.slice(part.indexOf('=') + 1).trim()])
      .find(([k]) => k === key)?.[1];
  return (capabilities?.codecs ?? []).some((c) => {
    if (c.mimeType.toLowerCase() !== wanted) return false;
    if (wanted !== 'video/h264') return true;
    if ((param(c.sdpFmtpLine, 'packetization-mode') ?? '0') !== (param(source.sdpFmtpLine, 'packetization-mode') ?? '0')) return false;
    const a = param(c.sdpFmtpLine, 'profile-level-id')?.toLowerCase();
    const b = param(source.sdpFmtpLine, 'profile-level-id')?.toLowerCase();
    // Same profile: profile_idc and constraint flags (the level may differ).
    return !a || !b || a.slice(0, 4) === b.slice(0, 4);
  });
}

/** Events the client emits; each takes an ack. */
export interface ClientToServerEvents {
  /** The server's client configuration (ICE servers). Payload `{}`. */
  'config:get': (req: Record<string, never>, ack: AckFn<ServerConfig>) => void;
  /** The media sources a session can watch. Payload `{}`. */
  'sources:list': (req: Record<string, never>, ack: AckFn<SourcesListResult>) => void;
  'session:start': (req: SessionStartRequest, ack: AckFn<SessionStartResult>) => void;
  'session:answer': (req: SessionAnswerRequest, ack: AckFn) => void;
  'session:offer': (req: SessionOfferRequest, ack: AckFn<SessionOfferResult>) => void;
  'session:candidate': (req: SessionCandidateRequest, ack: AckFn) => void;
  'session:close': (req: SessionIdRequest, ack: AckFn) => void;
  /** Stop only the video; the data channel stays. The server renegotiates. */
  'session:stop-video': (req: SessionMediaRequest, ack: AckFn) => void;
  /** Bring the video back after a stop. The server renegotiates. */
  'session:resume-video': (req: SessionMediaRequest, ack: AckFn) => void;
}

export interface ServerHelloEvent {
  /** The node's id (NODE_ID); the sessions of this socket live on that node. */
  node: string;
}
export interface ServerDrainingEvent {
  node: string;
}

/** Events the server emits. */
export interface ServerToClientEvents {
  'session:candidate': (ev: SessionCandidateEvent) => void;
  'session:offer': (ev: SessionOfferEvent) => void;
  'session:state': (ev: SessionStateEvent) => void;
  /** An error that could not travel through an ack (the client emitted without one). */
  'server:error': (ev: ErrorBody & { event?: string }) => void;
  /** Sent once on connection: which node of the cluster holds this socket. */
  'server:hello': (ev: ServerHelloEvent) => void;
  /**
   * The node is shutting down: its sockets close shortly and the client should reconnect
   * (through the load balancer, to another node) and restart its sessions.
   */
  'server:draining': (ev: ServerDrainingEvent) => void;
}

export const CLIENT_EVENTS = [
  'config:get',
  'sources:list',
  'session:start',
  'session:answer',
  'session:offer',
  'session:candidate',
  'session:close',
  'session:stop-video',
  'session:resume-video',
] as const satisfies readonly (keyof ClientToServerEvents)[];

/** The data channel's label; the server creates or accepts the first channel with it. */
export const DATA_CHANNEL_LABEL = 'data';

/** Largest signalling message the server accepts (socket.io maxHttpBufferSize). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Largest SDP the server accepts. */
export const MAX_SDP_LENGTH = 32 * 1024;
