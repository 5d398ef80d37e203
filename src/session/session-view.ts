import type { Logger } from '@nestjs/common';
import type { EventEmitter } from 'node:events';
import type { RTCRtpSender } from 'werift';
import type {
  IceCandidateInit,
  MediaKind,
  SessionDescriptionAnswer,
  SessionDescriptionOffer,
  SessionStartRequest,
  SessionStartResult,
  SessionState,
} from '../protocol';
import type { Session } from './session';
import type { SessionService } from './session.service';

/** werift's own sender counters (read, never hooked: the send path stays untouched). */
export interface SenderCounters {
  packets: number;
  bytes: number;
  nacks: number;
  retransmits: number;
}

/** What only the lean send path counts (werift's sender fields count packets, bytes, NACKs, resends). */
export interface LeanCounters {
  /** Packets not sent: DTLS not ready or no ICE consent. */
  notSent: number;
  /** Datagrams the kernel could not take at once (libuv queued them). */
  queued: number;
  sendErrors: number;
  /** NACKed packets not resent (asked again within the resend window). */
  nackIgnored: number;
}

/**
 * A session as code outside src/session sees it (cluster, metrics, admin, WHEP): plain
 * values read now, no werift object. The session itself stays inside the service.
 */
export interface SessionSummary {
  id: string;
  ownerId: string;
  source: string;
  state: SessionState;
  /** werift's connection state (`new`, `connecting`, `connected`, ...). */
  connection: string;
  /** The peer's address and port on the selected candidate pair, once connected. */
  remote?: string;
  /** werift's counters of each sender the session has had, in transceiver order (stopped ones included). */
  senders: SenderCounters[];
  /** The lean send path's own counters of the current (or last) video feed; absent on werift's path. */
  lean?: LeanCounters;
  pictureLoss: { source: number; replay: number; limited: number; ended: number };
  /** The audio: `none` (the source or the client has none), `live` (sending), `stopped`. */
  audio: 'none' | 'live' | 'stopped';
}

/** The SDP each side last applied (WHEP answers with the local one, checks ICE restarts on the remote one). */
export interface SessionDescriptions {
  local?: string;
  remote?: string;
}

/** One client's sessions: what the signalling gateway may do on behalf of that client, and no more. */
export interface OwnedSessions {
  /** The client's open session ids. */
  ids(): string[];
  start(req: SessionStartRequest): Promise<SessionStartResult>;
  answer(sessionId: string, answer: SessionDescriptionAnswer): Promise<void>;
  renegotiate(sessionId: string, offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer>;
  candidate(sessionId: string, candidate: IceCandidateInit | null): Promise<void>;
  /** Stops the video and the audio, or only `kind`. */
  stopVideo(sessionId: string, reason?: string, kind?: MediaKind): Promise<void>;
  resumeVideo(sessionId: string, kind?: MediaKind): Promise<void>;
  close(sessionId: string, reason?: string): void;
  /** Closes every session of the client (its socket went away); returns how many. */
  closeAll(reason: string): number;
}

export function senderCounters(sender: RTCRtpSender): SenderCounters {
  const s = sender as unknown as { packetCount?: number; octetCount?: number; nackCount?: number; retransmittedPacketsSent?: number };
  return {
    packets: s.packetCount ?? 0,
    bytes: s.octetCount ?? 0,
    nacks: s.nackCount ?? 0,
    retransmits: s.retransmittedPacketsSent ?? 0,
  };
}

export function summaryOf(session: Session): SessionSummary {
  const pc = session.peerConnection;
  return {
    id: session.id,
    ownerId: session.ownerId,
    source: session.source.id,
    state: session.state,
    connection: pc.connectionState,
    ...remoteOf(session),
    senders: pc.getTransceivers().map((t) => senderCounters(t.sender)),
    ...leanOf(session),
    pictureLoss: { ...session.pictureLoss },
    audio: session.audioStatus,
  };
}

export function descriptionsOf(session: Session): SessionDescriptions {
  const pc = session.peerConnection;
  return { local: pc.localDescription?.sdp, remote: pc.remoteDescription?.sdp };
}

function remoteOf(session: Session): { remote?: string } {
  try {
    const transport = session.peerConnection.dtlsTransports[0]?.iceTransport as unknown as {
      connection?: { nominated?: { remoteCandidate?: { host: string; port: number } } };
    };
    const c = transport?.connection?.nominated?.remoteCandidate;
    return c ? { remote: `${c.host}:${c.port}` } : {};
  } catch {
    return {};
  }
}

/** `SessionService.ownedBy`: the service's owner-taking calls, bound to one owner. */
export function ownedView(service: SessionService, ownerId: string): OwnedSessions {
  return {
    ids: () => service.list().filter((s) => s.ownerId === ownerId && !s.closed).map((s) => s.id),
    start: (req) => service.start(ownerId, req),
    answer: (id, answer) => service.answer(ownerId, id, answer),
    renegotiate: (id, offer) => service.renegotiate(ownerId, id, offer),
    candidate: (id, candidate) => service.candidate(ownerId, id, candidate),
    stopVideo: (id, reason, kind) => service.stopVideo(ownerId, id, reason, kind),
    resumeVideo: (id, kind) => service.resumeVideo(ownerId, id, kind),
    close: (id, reason) => service.close(ownerId, id, reason),
    closeAll: (reason) => service.closeAllOf(ownerId, reason),
  };
}

/**
 * Emits without letting a listener's throw reach the caller (as mediasoup's safeEmit): a
 * session's callbacks run inside its close(), and an app's throwing `state` handler must
 * not stop the session from leaving the map. Each listener on its own, so one that throws
 * does not skip the others (the gateway's relay); rawListeners keeps `once` working.
 */
export function safeEmit(events: EventEmitter, log: Logger, event: string, args: readonly unknown[]): void {
  for (const listener of events.rawListeners(event) as ((...a: unknown[]) => void)[]) {
    try {
      listener(...args);
    } catch (err) {
      log.error(`a '${event}' listener threw: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
}

function leanOf(session: Session): { lean?: LeanCounters } {
  const l = session.leanStats;
  return l ? { lean: { notSent: l.dropped, queued: l.queued, sendErrors: l.sendErrors, nackIgnored: l.nackIgnored } } : {};
}
