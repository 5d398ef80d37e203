import { Injectable, Logger, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { StreamingError } from '../common/streaming-error';
import { MediaSource, SourceInfo } from '../media/media-source';
import { MediaSourceRegistry } from '../media/source-registry';
import { ErrorCode, IceCandidateInit, MediaKind, SessionDescriptionAnswer, SessionDescriptionOffer, SessionStartRequest, SessionStartResult } from '../protocol';
import { hasLocalCandidate, hostAddressesOf, noCandidateError } from './gathering';
import { Session, SessionCallbacks } from './session';
import { SessionOptions } from './session.options';
import { OwnedSessions, SessionDescriptions, SessionSummary, descriptionsOf, ownedView, safeEmit, summaryOf } from './session-view';
import { TransportSweeper } from './werift-sockets';
import { SessionEvents, SessionHandle, WorkerPlacement, createSessionHandle, resolveSource, sessionCodec, workerCertificate } from './session-setup';
import { MediaWorkerPool, MediaWorkerStatus } from '../workers/worker-pool';

export type { SessionEvents, SessionHandle } from './session-setup';

/**
 * Owns every session (one werift peer connection each) and the state of its transceivers.
 * It knows nothing of socket.io: clients are opaque owner ids, and what must reach them is
 * published on `events`, which the signalling gateway relays.
 */
@Injectable()
export class SessionService implements OnModuleInit, OnApplicationShutdown {
  readonly events = new EventEmitter<SessionEvents>();
  private readonly log = new Logger(SessionService.name);
  private readonly sessions = new Map<string, SessionHandle>();
  private readonly transports = new TransportSweeper(this.log);
  private accepting = true;
  /** The media workers, when `mediaWorkers` > 0: sessions are placed there, not on this thread. */
  private readonly workers?: MediaWorkerPool;

  constructor(
    private readonly source: MediaSource,
    private readonly options: SessionOptions,
    /** Every source by id; without it (a hand-built service) only `source` is known. */
    @Optional() private readonly registry?: MediaSourceRegistry,
  ) {
    if (options.mediaWorkers > 0) {
      this.workers = new MediaWorkerPool(options.mediaWorkers, options, ['log', 'error', 'warn', 'fatal']);
    }
    if (hostAddressesOf(options).length === 0) {
      this.log.warn(
        'werift will gather no ICE candidate: no usable network interface (loopback, link-local, veth and tun ' +
          'are skipped) and no announced address; every session will be refused. Set announcedAddresses ' +
          '(ICE_ANNOUNCED_ADDRESSES).',
      );
    }
  }

  /** With media workers: the application is up once they are (the first viewers are not refused). */
  async onModuleInit(): Promise<void> {
    await this.workers?.whenReady();
  }

  /** `renegotiation: false` for a peer that cannot renegotiate (WHEP): stop and resume then keep the m-line. */
  async start(ownerId: string, req: SessionStartRequest, opts: { renegotiation?: boolean } = {}): Promise<SessionStartResult> {
    const requestedAt = performance.now();
    try {
      const result = await this.open(ownerId, req, opts.renegotiation ?? true);
      const source = this.sessions.get(result.sessionId)?.source.id ?? req.source ?? '';
      this.emit('started', ownerId, { sessionId: result.sessionId, source, requestedAt });
      return result;
    } catch (err) {
      this.emit('start-failed', ownerId, { code: err instanceof StreamingError ? err.code : ErrorCode.INTERNAL });
      throw err;
    }
  }

  private async open(ownerId: string, req: SessionStartRequest, renegotiation: boolean): Promise<SessionStartResult> {
    if (!this.accepting) throw new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'the server is shutting down');
    const source = resolveSource(this.registry, this.source, req.source);
    let worker: WorkerPlacement | undefined;
    if (this.workers) {
      // The workers see the host's interfaces as this thread does: no address, no candidate anywhere.
      if (hostAddressesOf(this.options).length === 0) throw noCandidateError(this.options);
      // A worker restarting after a failure: wait for it rather than refuse (bounded).
      await this.workers.whenAnyReady();
      worker = { pool: this.workers, certificate: await workerCertificate(this.options) };
    }
    // From here to `sessions.set` nothing awaits, so concurrent starts cannot pass the caps
    // together (and a drain during the awaits above is seen).
    if (!this.accepting) throw new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'the server is shutting down');
    if (this.sessions.size >= this.options.maxSessions) {
      throw new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'this server is at its session limit');
    }
    if (this.sessionsOf(ownerId).length >= this.options.maxSessionsPerClient) {
      throw new StreamingError(ErrorCode.CAPACITY_EXCEEDED, `a client may hold at most ${this.options.maxSessionsPerClient} sessions`);
    }
    const id = randomUUID();
    // Resolved by the first local candidate (true) or by the end of gathering (false).
    let gathered!: (hasCandidate: boolean) => void;
    const firstCandidate = new Promise<boolean>((resolve) => (gathered = resolve));
    const codec = sessionCodec(source, req.offer?.sdp);
    const callbacks: SessionCallbacks = {
      candidate: (candidate) => {
        gathered(candidate !== null);
        this.emit('candidate', ownerId, { sessionId: id, candidate });
      },
      offer: (offer) => this.emit('offer', ownerId, { sessionId: id, offer }),
      state: (state, reason) => this.emit('state', ownerId, { sessionId: id, state, ...(reason ? { reason } : {}) }),
      message: (data) => this.emit('message', ownerId, { sessionId: id, data }),
      binary: (data) => this.emit('binary', ownerId, { sessionId: id, data }),
      closed: (reason) => {
        this.sessions.delete(id);
        if (session instanceof Session) this.transports.sweep(session);
        this.emit('closed', { sessionId: id, ownerId, reason, source: source.id });
      },
    };
    const session = createSessionHandle({ worker, options: this.options, id, ownerId, source, codec, renegotiation, callbacks });
    this.sessions.set(id, session);
    let result: SessionStartResult;
    try {
      result = req.offer
        ? { sessionId: id, answer: await session.answerOffer(req.offer) }
        : { sessionId: id, offer: await session.createOffer() };
    } catch (err) {
      this.track(session);
      session.close('negotiation-failed');
      throw err;
    }
    this.track(session);
    if (!(await hasLocalCandidate(firstCandidate, this.options.candidateCheckMs))) {
      const error = noCandidateError(this.options);
      session.close(error.code === ErrorCode.CAPACITY_EXCEEDED ? 'no-free-port' : 'no-ice-candidate');
      throw error;
    }
    return result;
  }

  async answer(ownerId: string, sessionId: string, answer: SessionDescriptionAnswer): Promise<void> {
    await this.withSession(ownerId, sessionId, (s) => s.acceptAnswer(answer));
  }

  /** A renegotiation the client started: apply its offer and answer it. */
  async renegotiate(ownerId: string, sessionId: string, offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    return this.withSession(ownerId, sessionId, async (s) => {
      try {
        return await s.answerRenegotiation(offer);
      } catch (err) {
        if (err instanceof StreamingError) throw err;
        // werift applied the offer but cannot answer it (createAnswer/setLocalDescription
        // throw, e.g. "Transceiver with mid=undefined not found" for an m-line without a
        // usable mid): the offer is at fault. werift's message may quote the SDP: not sent.
        this.log.debug(`session ${sessionId}: renegotiation offer not answerable: ${(err as Error).message}`);
        // Stuck half-way (have-remote-offer), the session could never negotiate again.
        if (s instanceof Session && s.peerConnection.signalingState !== 'stable') s.close('negotiation-failed');
        throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offer could not be answered');
      }
    });
  }

  async candidate(ownerId: string, sessionId: string, candidate: IceCandidateInit | null): Promise<void> {
    await this.withSession(ownerId, sessionId, (s) => s.addRemoteCandidate(candidate));
  }

  /**
   * Stops the media (video and audio; with `kind` only that one); the data channel stays.
   * The state becomes `data-only` once the video is off.
   */
  async stopVideo(ownerId: string, sessionId: string, reason = 'video-stopped', kind?: MediaKind): Promise<void> {
    await this.withSession(ownerId, sessionId, (s) => s.stopVideo(reason, kind));
  }

  /** Brings the media back after a stop (with `kind` only that one). The state becomes `streaming` with the video. */
  async resumeVideo(ownerId: string, sessionId: string, kind?: MediaKind): Promise<void> {
    await this.withSession(ownerId, sessionId, (s) => s.resumeVideo(kind));
  }

  close(ownerId: string, sessionId: string, reason = 'client-closed'): void {
    this.get(ownerId, sessionId).close(reason);
  }

  /** Closes every session of a client (its socket went away). */
  closeAllOf(ownerId: string, reason: string): number {
    const owned = this.sessionsOf(ownerId);
    for (const s of owned) s.close(reason);
    return owned.length;
  }

  /** Sends a data-channel message (text, or binary as a Buffer) to one session; false when its channel is not open. */
  send(sessionId: string, data: string | Buffer): boolean {
    return this.sessions.get(sessionId)?.send(data) ?? false;
  }

  /** Sends a data-channel text message to every viewer of a source; returns how many got it. */
  broadcast(sourceId: string, text: string): number {
    let sent = 0;
    for (const s of this.sessions.values()) if (s.source.id === sourceId && s.send(text)) sent++;
    return sent;
  }

  /** Whether new sessions are accepted (false once `drain()` was called). */
  get isAccepting(): boolean {
    return this.accepting;
  }

  /**
   * Stops accepting sessions and closes every open one with `reason` (each owner is told
   * through a `state` event). For a graceful shutdown; idempotent.
   */
  drain(reason = 'server-shutdown'): number {
    this.accepting = false;
    const open = [...this.sessions.values()];
    for (const s of open) s.close(reason);
    return open.length;
  }

  get count(): number {
    return this.sessions.size;
  }

  /** `{ id, kind, codec, state, viewers }` of every media source (`sources:list`). */
  listSources(): SourceInfo[] {
    const list = this.registry ? this.registry.list() : [this.source.info()];
    return this.workers ? list.map((info) => ({ ...info, viewers: this.workers!.feedsOf(info.id) })) : list;
  }

  /** Viewers a source feeds now, on this thread or in the media workers. */
  viewersOf(source: MediaSource): number {
    return this.workers ? this.workers.feedsOf(source.id) : source.viewers;
  }

  /**
   * The sessions themselves, for tests and diagnostics; code outside src/session uses `summaries()`.
   * With media workers they are `RemoteSession`s (state, ids, a snapshot of the connection).
   */
  list(): readonly SessionHandle[] {
    return [...this.sessions.values()];
  }

  /**
   * What one client (owner) may do to its own sessions. A session of another owner, a closed
   * one and one that never existed all answer SESSION_NOT_FOUND. The signalling gateway
   * and WHEP act through this.
   */
  ownedBy(ownerId: string): OwnedSessions {
    return ownedView(this, ownerId);
  }

  /** Every open session as plain values (cluster, admin, metrics): no owner needed, nothing to mutate. */
  summaries(): SessionSummary[] {
    return [...this.sessions.values()].filter((s) => !s.closed).map((s) => (s instanceof Session ? summaryOf(s) : s.summary()));
  }

  /** One session's summary, whoever owns it, until it has left (its last `state` listeners still read it). */
  summary(sessionId: string): SessionSummary | undefined {
    const s = this.sessions.get(sessionId);
    if (!s) return undefined;
    return s instanceof Session ? summaryOf(s) : s.summary();
  }

  /** The SDP each side of an open session last applied. */
  descriptions(sessionId: string): SessionDescriptions | undefined {
    const s = this.sessions.get(sessionId);
    if (!s || s.closed) return undefined;
    return s instanceof Session ? descriptionsOf(s) : s.descriptions();
  }

  /** Ends a session whoever owns it (an operator's request); false when no such open session. */
  closeById(sessionId: string, reason: string): boolean {
    const s = this.sessions.get(sessionId);
    if (!s || s.closed) return false;
    s.close(reason);
    return true;
  }

  /** Stops a session's video whoever owns it (an operator's request). */
  async stopVideoById(sessionId: string, reason: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s || s.closed) throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'no such session');
    await this.stopVideo(s.ownerId, sessionId, reason);
  }

  /**
   * With media workers: the sessions' summaries brought up to date (each worker sends its
   * sessions' counters at once; otherwise they are at most 250 ms old). For a metrics scrape.
   */
  async refresh(): Promise<void> {
    await this.workers?.refresh();
  }

  /** The media workers (empty in single-thread mode): readiness, sessions, restarts. */
  mediaWorkers(): MediaWorkerStatus[] {
    return this.workers?.status() ?? [];
  }

  /** The worker pool (tests: warm-up, crash injection); undefined in single-thread mode. */
  get workerPool(): MediaWorkerPool | undefined {
    return this.workers;
  }

  async onApplicationShutdown(): Promise<void> {
    this.drain();
    await this.workers?.close();
  }

  // --- internals ---------------------------------------------------------------------

  private sessionsOf(ownerId: string): SessionHandle[] {
    return [...this.sessions.values()].filter((s) => s.ownerId === ownerId);
  }

  /** A session that does not exist and one owned by another client look the same. */
  private get(ownerId: string, sessionId: string): SessionHandle {
    const s = this.sessions.get(sessionId);
    if (!s || s.ownerId !== ownerId || s.closed) {
      throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'no such session');
    }
    return s;
  }

  /**
   * Emits without letting a listener's throw reach the caller (as mediasoup's safeEmit): a
   * session's callbacks run inside its close(), and an app's throwing `state` handler
   * must not stop the session from leaving the map.
   */
  private emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): void {
    safeEmit(this.events as EventEmitter, this.log, event, args);
  }

  /** Counts (and sweeps) a local session's transports; a worker does that for its own. */
  private track(s: SessionHandle): number {
    return s instanceof Session ? this.transports.track(s) : 0;
  }

  private async withSession<T>(ownerId: string, sessionId: string, fn: (s: SessionHandle) => Promise<T>): Promise<T> {
    const s = this.get(ownerId, sessionId);
    try {
      const result = await fn(s);
      if (this.track(s) > TransportSweeper.MAX_TRANSPORTS) {
        s.close('negotiation-failed');
        throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offers ask for more transports than a session may have (use BUNDLE)');
      }
      return result;
    } catch (err) {
      this.track(s);
      if (err instanceof StreamingError) throw err;
      this.log.error(`session ${sessionId}: ${(err as Error).stack}`);
      throw new StreamingError(ErrorCode.INTERNAL, 'internal error');
    }
  }
}
