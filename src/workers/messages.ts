import type { LeanSenderStats } from '../media/fanout/lean-sender';
import type { AudioCodecName, SourceState, VideoCodecName } from '../media/media-source';
import type { ErrorCode, IceCandidateInit, MediaKind, SessionDescriptionAnswer, SessionDescriptionOffer, SessionState } from '../protocol';
import type { DtlsCertificatePem } from '../werift/certificate';
import type { SessionProbe } from './session-probe';
import type { SessionSummary } from '../session/session-view';
import type { SessionOptions } from '../session/session.options';

/**
 * What the main thread and a media worker say to each other over the worker's port. Every
 * value is structured-cloneable: no werift object, no function crosses.
 */

/** SessionOptions without the function (the worker asks the main thread, see `filter`). */
export type WorkerSessionOptions = Omit<SessionOptions, 'remoteAddressFilter'> & { hasRemoteFilter: boolean };

export interface SourceDescription {
  id: string;
  kind: string;
  codec: VideoCodecName;
  state: SourceState;
  /** The codec werift negotiates for it (RTCRtpCodecParameters' fields). */
  codecParameters: CodecFields;
  /** The video packets (and where the last keyframe starts). */
  ring: SharedArrayBuffer;
  /** A source with sound: its codec and a ring of its own for the audio packets (see worker-pool.ts). */
  audio?: { codec: AudioCodecName; ring: SharedArrayBuffer };
}

export interface CodecFields {
  mimeType: string;
  clockRate: number;
  payloadType?: number;
  channels?: number;
  parameters?: string;
  rtcpFeedback?: { type: string; parameter?: string }[];
}

/** The operations a remote session forwards; each answers with a `reply`. */
export type SessionCall =
  | { op: 'create'; ownerId: string; sourceId: string; codec: CodecFields; renegotiation: boolean; certificate?: DtlsCertificatePem }
  | { op: 'answerOffer'; offer: SessionDescriptionOffer }
  | { op: 'createOffer' }
  | { op: 'acceptAnswer'; answer: SessionDescriptionAnswer }
  | { op: 'answerRenegotiation'; offer: SessionDescriptionOffer }
  | { op: 'addRemoteCandidate'; candidate: IceCandidateInit | null }
  | { op: 'stopVideo'; reason: string; kind?: MediaKind }
  | { op: 'resumeVideo'; kind?: MediaKind }
  /** Tests only: reaches the worker's werift objects (see session-probe.ts). */
  | { op: 'probe'; probe: SessionProbe };

export type ToWorker =
  | { t: 'init'; index: number; options: WorkerSessionOptions; filter: SharedArrayBuffer }
  | { t: 'source'; source: SourceDescription }
  | { t: 'source-state'; id: string; state: SourceState }
  | { t: 'source-ended'; id: string; reason: string }
  | { t: 'keyframe-answer'; id: string; can: boolean }
  | { t: 'call'; callId: number; sessionId: string; call: SessionCall }
  | { t: 'close'; sessionId: string; reason: string }
  | { t: 'send'; sessionId: string; data: string | Uint8Array }
  | { t: 'shutdown' }
  /** Send every session's snapshot now, then `snapshots-done`. */
  | { t: 'snapshots'; reqId: number }
  /** Tests only: make the worker die (`exit`: process.exit in the worker; `throw`: an uncaught error). */
  | { t: 'crash'; how: 'exit' | 'throw' };

/** What a failed call carries back: a StreamingError's code and message, or an internal error (logged there). */
export type CallError = { code: ErrorCode; message: string } | { internal: string };

/** What the main thread keeps of a session between calls (for the synchronous reads: summaries, send, descriptions). */
export interface SessionSnapshot {
  summary: Omit<SessionSummary, 'id' | 'ownerId' | 'source'>;
  channelOpen: boolean;
  signalingState: string;
  iceConnectionState: string;
  /** The lean send path's counters of the last feed (undefined on werift's path). */
  leanStats?: LeanSenderStats;
  /** The same for the last audio feed (undefined without audio). */
  leanAudioStats?: LeanSenderStats;
  /** Whether `local` and `remote` are in it (the periodic counters leave werift's SDP serialization out). */
  sdp: boolean;
  local?: string;
  remote?: string;
  transports: number;
}

export type SessionEventMessage =
  | { ev: 'candidate'; candidate: IceCandidateInit | null }
  | { ev: 'offer'; offer: SessionDescriptionOffer }
  | { ev: 'state'; state: SessionState; reason?: string }
  | { ev: 'message'; data: string }
  | { ev: 'binary'; data: Uint8Array }
  | { ev: 'closed'; reason: string };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'reply'; callId: number; ok: true; value?: unknown; snapshot?: SessionSnapshot }
  | { t: 'reply'; callId: number; ok: false; error: CallError; snapshot?: SessionSnapshot }
  | ({ t: 'event'; sessionId: string } & SessionEventMessage)
  | { t: 'snapshot'; sessionId: string; snapshot: SessionSnapshot }
  /** A feed of the source started (1) or ended (-1) here; `audio` feeds hold the source but are not viewers. */
  | { t: 'demand'; sourceId: string; delta: 1 | -1; kind: 'video' | 'audio' }
  | { t: 'keyframe'; sourceId: string }
  | { t: 'filter'; address: string }
  | { t: 'snapshots-done'; reqId: number }
  | { t: 'shutdown-done' };

/** The filter call's shared cell: [state (0 asked, 1 answered), result (1 pass)]. */
export const FILTER_STATE = 0;
export const FILTER_RESULT = 1;
