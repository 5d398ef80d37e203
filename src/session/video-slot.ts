import type { MediaStreamTrack, RTCRtpTransceiver } from 'werift';
import type { VideoOffReason } from './end-causes';
import type { VideoFeed } from './video-feed';

/** The part of a transceiver the state machine reads (werift's RTCRtpTransceiver in a session). */
export interface SlotTransceiver {
  readonly stopping: boolean;
  readonly stopped: boolean;
  readonly direction: string;
  readonly mid?: string | null;
}

/** Who parked a video m-line, which decides who may turn it back on. */
export type ParkedBy =
  /** The server set it inactive (its BUNDLE tag must stay): only a resume request turns it on. */
  | 'server'
  /** The client offered it inactive (or no longer receiving): its own offer may turn it on. */
  | 'client'
  /** A peer without server offers (WHEP): the sender just stops writing; a resume writes again. */
  | 'in-place';

/**
 * A session's video, as one state:
 * - `off`: no live video m-line (never added, stopped, or rejected), and why;
 * - `adding`: an m-line is on its way (the first negotiation, or a resume); RTP written now
 *   would be dropped and the session is not data-only yet;
 * - `live`: the session sends video on `transceiver`; `feed` is set once DTLS is up;
 * - `parked`: the m-line stays negotiated but carries nothing (see ParkedBy), and why.
 */
export type VideoSlot<T extends SlotTransceiver = RTCRtpTransceiver, K = MediaStreamTrack, F = VideoFeed> =
  | { kind: 'off'; reason: VideoOffReason }
  | { kind: 'adding'; transceiver?: T; track?: K }
  | { kind: 'live'; transceiver: T; track: K; feed?: F }
  | { kind: 'parked'; transceiver: T; by: ParkedBy; reason: VideoOffReason };

/** Whether a transceiver is still negotiable (not stopped nor being stopped). */
export function isLive<T extends SlotTransceiver>(t: T | undefined): t is T {
  return !!t && !t.stopping && !t.stopped;
}

/** Whether the session means to send video (adding or live). */
export function wantsVideo(slot: VideoSlot<SlotTransceiver, unknown, unknown>): boolean {
  return slot.kind === 'adding' || slot.kind === 'live';
}

/** Why the video is off (reported with `data-only`), or undefined while it is wanted. */
export function offReason(slot: VideoSlot<SlotTransceiver, unknown, unknown>): VideoOffReason | undefined {
  return slot.kind === 'off' || slot.kind === 'parked' ? slot.reason : undefined;
}

/**
 * What stopping the video does: undefined when it is already off or parked; otherwise the
 * next state and what to do to the m-line. Without server offers nothing is renegotiated: the
 * m-line stays as it is. Otherwise a live m-line is parked when it owns the client's transport
 * (the BUNDLE tag: rejecting it would make browsers replace the transport and lose the data
 * channel), else stopped (rejected, port 0).
 */
export function stopPlan<T extends SlotTransceiver>(
  slot: VideoSlot<T, unknown, unknown>,
  reason: VideoOffReason,
  how: { renegotiation: boolean; ownsTransport(t: T): boolean },
): { next: VideoSlot<T, never, never>; mline: 'keep' | 'park' | 'stop' } | undefined {
  if (slot.kind === 'off' || slot.kind === 'parked') return undefined;
  const t = slot.transceiver;
  if (!isLive(t)) return { next: { kind: 'off', reason }, mline: 'keep' };
  if (!how.renegotiation) return { next: { kind: 'parked', transceiver: t, by: 'in-place', reason }, mline: 'keep' };
  if (how.ownsTransport(t)) return { next: { kind: 'parked', transceiver: t, by: 'server', reason }, mline: 'park' };
  return { next: { kind: 'off', reason }, mline: 'stop' };
}

/**
 * What a resume does: `nothing` when the video is on already; `in-place` for a peer without
 * server offers; else `negotiate`, reusing the live m-line there is (a parked one), or adding a new one.
 */
export function resumePlan<T extends SlotTransceiver>(
  slot: VideoSlot<T, unknown, unknown>,
  how: { renegotiation: boolean; receives(t: T): boolean },
): { do: 'nothing' } | { do: 'in-place'; transceiver: T } | { do: 'negotiate'; reuse?: T } {
  const t = slot.kind === 'off' ? undefined : slot.transceiver;
  const live = isLive(t) ? t : undefined;
  if (!how.renegotiation && live) return slot.kind === 'parked' ? { do: 'in-place', transceiver: live } : { do: 'nothing' };
  if (slot.kind === 'live' && live && live.direction !== 'inactive' && how.receives(live)) return { do: 'nothing' };
  return { do: 'negotiate', reuse: live };
}

/**
 * Where a failed resume leaves the video: as it was when it was off or parked (a parked
 * m-line is set inactive again), else off. A client that cannot decode the codec makes that
 * the reason.
 */
export function afterFailedResume<T extends SlotTransceiver>(
  before: VideoSlot<T, unknown, unknown>,
  codecRejected: boolean,
): VideoSlot<T, never, never> {
  const back: VideoSlot<T, never, never> =
    before.kind === 'parked' ? { ...before } : before.kind === 'off' ? { ...before } : { kind: 'off', reason: 'video-stopped' };
  if (codecRejected) back.reason = 'codec-not-supported';
  return back;
}

/** What the client's offer (after the start) says about our video m-line. */
export interface RemoteVideoView<T> {
  /** Whether the offer rejects (port 0) this m-line. */
  rejected(t: T): boolean;
  /** Whether the offer receives on this m-line (recvonly or sendrecv). */
  receives(t: T): boolean;
  sourceEnded: boolean;
  /** A video transceiver the offer added to receive on (a client's resume by a new m-line). */
  fresh(): T | undefined;
}

/**
 * The video after a client offer. It may have stopped our m-line (port 0, as a browser does
 * after `transceiver.stop()`), set it inactive (how a client whose video is the BUNDLE tag
 * stops it), offered it receiving again after that, or offered a new recvonly m-line to resume.
 * `detach`: the current feed and track end; `park`: answer the m-line inactive; `unpark` /
 * `adopt`: send on this transceiver with a new track. Without any of them the state is unchanged.
 */
export function remoteOfferPlan<T extends SlotTransceiver>(
  slot: VideoSlot<T, unknown, unknown>,
  view: RemoteVideoView<T>,
): { next?: VideoSlot<T, never, never>; detach?: boolean; park?: T; unpark?: T; adopt?: T } {
  let current: VideoSlot<T, unknown, unknown> = slot;
  let detach = false;
  const t0 = slot.kind === 'off' ? undefined : slot.transceiver;
  if (t0 && (!isLive(t0) || view.rejected(t0))) {
    // werift commits a remote rejection only when the answer is set: the offer says it first.
    current = { kind: 'off', reason: offReason(slot) ?? 'video-stopped' };
    detach = true;
  }
  const t = current.kind === 'off' ? undefined : isLive(current.transceiver) ? current.transceiver : undefined;
  if (t && !view.receives(t)) {
    // The client parked the video: stop feeding it, answer inactive, keep the m-line.
    return { next: { kind: 'parked', transceiver: t, by: 'client', reason: offReason(current) ?? 'video-stopped' }, detach: true, park: t };
  }
  if (t && t.direction === 'inactive') {
    // A parked m-line the client receives on again: the client resumes its own stop. After
    // the server's stop the client's transceiver still says recvonly: that is no resume.
    if (view.sourceEnded || (current.kind === 'parked' && current.by === 'server')) return {};
    return { unpark: t };
  }
  const changed = detach ? { next: current as VideoSlot<T, never, never>, detach } : {};
  if (t || view.sourceEnded) return changed;
  const fresh = view.fresh();
  return fresh ? { ...changed, adopt: fresh } : changed;
}
