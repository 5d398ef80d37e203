import type { IceCandidateInit, SessionDescriptionOffer, SessionState } from '../protocol';
import type { SessionCloseReason, StateNotice, VideoOffReason } from './end-causes';

/** What a session tells the outside world; the service turns these into events. */
export interface SessionCallbacks {
  candidate(candidate: IceCandidateInit | null): void;
  /** A renegotiation the server starts: the client must reply with an answer. */
  offer(offer: SessionDescriptionOffer): void;
  state(state: SessionState, reason?: SessionCloseReason | VideoOffReason | StateNotice): void;
  message(data: string): void;
  /** A binary data-channel message (optional: a caller without it ignores binary). */
  binary?(data: Buffer): void;
  closed(reason: SessionCloseReason): void;
}
