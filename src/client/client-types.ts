/** The client's public types, errors and events, and the internal link between a client and its sessions. */
import type { Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  ErrorCode,
  ServerToClientEvents,
  SessionCandidateEvent,
  SessionOfferEvent,
  SessionState,
  SessionStateEvent,
} from '../protocol/index.js';
import type { StreamingClient } from './streaming-client.js';
import type { ViewerSession } from './viewer-session.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * The server's error codes, plus the client's own: `TIMEOUT` (no ack in time),
 * `CHANNEL_CLOSED` (`send` on a closed session), `QUEUE_FULL` (too much queued by `send`
 * while the data channel was not open).
 */
export type ClientErrorCode = ErrorCode | 'TIMEOUT' | 'CHANNEL_CLOSED' | 'QUEUE_FULL';

export class StreamingClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StreamingClientError';
  }
}

export interface StreamingClientOptions {
  /** Server URL (default: the page's origin). Ignored when `socket` is given. */
  url?: string;
  /** An existing socket.io-client socket to use. */
  socket?: ClientSocket;
  /** socket.io path (default `/socket.io`). */
  path?: string;
  /**
   * Passed to RTCPeerConnection (ICE servers and so on). Without it the client asks the
   * server for its ICE servers (`config:get`) before the first session.
   */
  rtcConfig?: RTCConfiguration;
  /** Time to wait for each ack (ms). */
  requestTimeoutMs?: number;
  /** Which local ICE candidates to send to the server (default: all). */
  candidateFilter?: (candidate: RTCIceCandidate) => boolean;
  /** Restart lost sessions (default on); `false` turns it off. */
  reconnect?: boolean | ReconnectOptions;
  /**
   * ICE restart: how long a connection may stay `disconnected` before the client restarts
   * ICE (ms, default 2000; the server gives up on a disconnected session after 8 s).
   * `false` turns ICE restarts off (`failed` then restarts the whole session).
   */
  iceRestartAfterMs?: number | false;
}

export interface ReconnectOptions {
  /** First pause between two restart attempts of a session (ms, default 250). */
  baseDelayMs?: number;
  /** Longest pause (ms, default 5000). */
  maxDelayMs?: number;
  /**
   * Attempts before the session gives up and closes with `reconnect-failed` (default 20,
   * about 1.5 min with the default delays). An attempt made while the signalling socket is
   * down counts (and fails at once); the socket coming back starts the next attempt at once.
   */
  maxAttempts?: number;
}

/**
 * A session's state as the page sees it: the server's states, plus `reconnecting` while
 * the client restarts a session that lost its server.
 */
export type ViewerState = SessionState | 'reconnecting';

export interface StartOptions {
  /** Media source id; the server's default when absent. */
  source?: string;
  /**
   * A video element to play the stream in. The client calls `play()`; when the browser's
   * autoplay policy refuses (unmuted video without a user gesture), the session emits
   * `autoplay-blocked` and `session.play()` from a click plays it.
   */
  video?: HTMLVideoElement;
  /**
   * `client` (default): the browser offers (see `videoInOffer`); `server`: the server offers.
   * Either way the data channel is negotiated first.
   */
  offerer?: 'client' | 'server';
  /**
   * With `offerer: 'client'` (default true): offer the recvonly video in the first offer,
   * after the data channel (which stays the BUNDLE tag), and the server answers with the
   * video at once: one negotiation. A source whose codec this browser cannot decode gives a
   * data-only session with `codec-not-supported` (the answer rejects the video m-line).
   * `false`: offer the data channel alone and let the server add the video in a second
   * negotiation (the default until 2026-12-04; about 20 ms slower to the first frame in Chromium,
   * whose `setRemoteDescription` of the server's video offer takes 30-40 ms on the path).
   */
  videoInOffer?: boolean;
}

/** Data-channel payloads: text, or binary (received as an ArrayBuffer). */
export type ChannelData = string | ArrayBuffer | ArrayBufferView;

/** `reconnecting`: a restart attempt of a lost session is scheduled. */
export class ReconnectEvent extends Event {
  constructor(
    /** 1 for the first attempt. */
    readonly attempt: number,
    readonly maxAttempts: number,
    /** When the attempt runs (`Date.now()` time base). */
    readonly retryAt: number,
    /** Why the session was lost (`signalling-lost`, `server-draining`, `ice-failed`, ...). */
    readonly reason: string,
  ) {
    super('reconnecting');
  }
}

/** `ice-restart`: the client restarts ICE on the current connection. */
export class IceRestartEvent extends Event {
  constructor(
    /** What started it: the connection state seen, or `manual` (`restartIce()`). */
    readonly trigger: 'disconnected' | 'failed' | 'manual',
  ) {
    super('ice-restart');
  }
}

/** `autoplay-blocked`: the browser refused `video.play()`; call `session.play()` from a user gesture. */
export class AutoplayBlockedEvent extends Event {
  constructor(readonly error: unknown) {
    super('autoplay-blocked');
  }
}

export interface ViewerSessionEventMap {
  /** `state` or `reason` changed. */
  state: Event;
  /** A data-channel message: a string, or an ArrayBuffer for binary. */
  message: MessageEvent<string | ArrayBuffer>;
  /** Video arrived (also after a resume or a restart: a new stream). */
  track: Event;
  /** The data channel opened or closed. */
  channel: Event;
  reconnecting: ReconnectEvent;
  'ice-restart': IceRestartEvent;
  'autoplay-blocked': AutoplayBlockedEvent;
}

/** Where a session is in its restart, while `reconnecting`. */
export interface ReconnectInfo {
  attempt: number;
  maxAttempts: number;
  retryAt: number;
  reason: string;
}

/**
 * @internal What a session needs from its client. Built by the client, so that none of it
 * is public API.
 */
export interface ClientLink {
  readonly options: StreamingClientOptions;
  readonly socket: ClientSocket;
  readonly reconnect: Required<ReconnectOptions> | undefined;
  request: StreamingClient['request'];
  rtcConfiguration(): RTCConfiguration | undefined;
  /** The session has this id on the server now (events for it are routed to `control`). */
  register(id: string, control: SessionControl): void;
  /** The session no longer has a server session. */
  forget(id: string, control: SessionControl): void;
  /** The session is over: drop it entirely. */
  release(control: SessionControl): void;
  /** Hands the client the session's control surface. */
  bind(control: SessionControl): void;
}

/** @internal What a client calls on its sessions. */
export interface SessionControl {
  readonly session: ViewerSession;
  negotiate(): Promise<string>;
  /** `start()` has handed the session to the application: deliver the events held until then. */
  handedOut(): void;
  lost(reason: string): void;
  /** The signalling socket is connected (again). */
  socketUp(): void;
  onCandidate(e: SessionCandidateEvent): void;
  onOffer(e: SessionOfferEvent): Promise<void>;
  onState(e: SessionStateEvent): void;
  markClosed(reason: string): void;
}

