import { Logger } from '@nestjs/common';

/**
 * Why a session closed, as `session:state { state: 'closed', reason }` reports it
 * (docs/protocol.md). The first group the session decides itself; the second its callers
 * (gateway, WHEP, shutdown, start checks). `OperatorReason` stands for a reason an operator
 * gives through the cluster API, passed through unchanged.
 */
export type SessionCloseReason =
  | 'connect-timeout'
  | 'peer-silent'
  | 'ice-disconnected'
  | 'ice-failed'
  | 'peer-closed'
  | 'negotiation-failed'
  | 'client-closed'
  | 'client-disconnected'
  | 'server-shutdown'
  | 'no-free-port'
  | 'no-ice-candidate'
  /** The media worker thread that hosted the session died (crash, out of memory); it is restarted. */
  | 'media-worker-failed'
  | OperatorReason;

/** A caller-chosen reason (the cluster's operator API); kept open so the union still autocompletes. */
export type OperatorReason = string & { readonly operatorReason?: never };

/** Why the video is off while the data channel stays (`data-only`'s reason). */
export type VideoOffReason =
  | 'video-stopped'
  | 'source-ended'
  | 'codec-not-supported'
  | 'sink-failed'
  | 'stopped-by-operator'
  | OperatorReason;

/** Reasons sent with an unchanged state: source health and failed renegotiations. */
export type StateNotice = 'source-offline' | 'source-online' | 'video-resumed' | 'negotiation-failed' | 'codec-not-supported';

/**
 * Why a viewer's feed (SourceTrack) ended. The session ends it itself with the first two;
 * any other cause comes from the source (it ended, or the sink failed) and stops only the video.
 */
export type FeedEndCause = 'video-stopped' | 'session-closed';

/** Whether a feed ended because of the source rather than the session itself. */
export function endedBySource(why: string): boolean {
  return !SELF_ENDED.includes(why as FeedEndCause);
}
const SELF_ENDED: readonly FeedEndCause[] = ['video-stopped', 'session-closed'];

/**
 * Wraps callbacks so that one that throws (an embedding app's `state` handler) is logged
 * and does not stop the caller: a teardown always runs to its end (as mediasoup's safeEmit).
 */
export function safeCallbacks<T extends object>(callbacks: T, log: Logger): T {
  return new Proxy(callbacks, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (err) {
          log.error(`a ${String(key)} listener threw: ${(err as Error)?.message ?? err}`);
          return undefined;
        }
      };
    },
  });
}
