import { Logger } from '@nestjs/common';
import type { RTCDataChannel } from 'werift';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode } from '../protocol';
import { Session } from '../session/session';
import type { VideoOffReason } from '../session/end-causes';
import { dtlsCertificates } from '../werift';
import { SessionOptions } from '../session/session.options';
import { summaryOf } from '../session/session-view';
import { TransportSweeper } from '../session/werift-sockets';
import {
  CallError,
  FILTER_RESULT,
  FILTER_STATE,
  FromWorker,
  SessionCall,
  SessionSnapshot,
  ToWorker,
} from './messages';
import { probeSession } from './session-probe';
import { WorkerSource, codecOf } from './worker-source';

/** How often every session's counters go to the main thread (summaries, metrics, admin). */
const SNAPSHOT_MS = 250;

/**
 * The worker side of the media workers: runs the existing `Session` code (ICE, consent,
 * DTLS, SCTP, RTCP, NACK, PLI, the send path) for the sessions placed here, unchanged, and
 * turns the main thread's messages into its calls and its callbacks into messages.
 */
export class SessionHost {
  private readonly log = new Logger('MediaWorker');
  private readonly sessions = new Map<string, Session>();
  private readonly sources = new Map<string, WorkerSource>();
  private readonly transports = new TransportSweeper(this.log);
  private readonly watched = new WeakSet<object>();
  private options!: SessionOptions;
  private filterCell?: Int32Array;
  private readonly filterCache = new Map<string, boolean>();
  private snapshotTimer?: NodeJS.Timeout;

  constructor(private readonly post: (m: FromWorker) => void) {}

  handle(m: ToWorker): void {
    switch (m.t) {
      case 'init': {
        const { hasRemoteFilter, ...rest } = m.options;
        this.filterCell = new Int32Array(m.filter);
        this.options = SessionOptions.from({
          ...rest,
          ...(hasRemoteFilter ? { remoteAddressFilter: (address: string) => this.remoteFilter(address) } : {}),
        });
        this.snapshotTimer = setInterval(() => this.pushSnapshots(), SNAPSHOT_MS);
        this.post({ t: 'ready' });
        return;
      }
      case 'source': {
        this.sources.get(m.source.id)?.close();
        const id = m.source.id;
        this.sources.set(
          id,
          new WorkerSource(m.source, {
            onDemand: (delta, kind) => this.post({ t: 'demand', sourceId: id, delta, kind }),
            onKeyframe: () => this.post({ t: 'keyframe', sourceId: id }),
          }),
        );
        return;
      }
      case 'source-state':
        return this.sources.get(m.id)?.sourceState(m.state);
      case 'source-ended':
        return this.sources.get(m.id)?.sourceEnded(m.reason);
      case 'keyframe-answer':
        return this.sources.get(m.id)?.keyframeAnswer(m.can);
      case 'call':
        void this.call(m.callId, m.sessionId, m.call);
        return;
      case 'close':
        this.sessions.get(m.sessionId)?.close(m.reason);
        return;
      case 'send':
        this.sessions.get(m.sessionId)?.send(typeof m.data === 'string' ? m.data : Buffer.from(m.data));
        return;
      case 'shutdown':
        void this.shutdown();
        return;
      case 'snapshots':
        this.pushSnapshots();
        this.post({ t: 'snapshots-done', reqId: m.reqId });
        return;
      case 'crash':
        if (m.how === 'exit') process.exit(70);
        setImmediate(() => {
          throw new Error('media worker crash requested (test)');
        });
        return;
    }
  }

  private async call(callId: number, sessionId: string, call: SessionCall): Promise<void> {
    let session: Session | undefined;
    try {
      const value = await this.run(sessionId, call);
      session = this.sessions.get(sessionId);
      this.post({ t: 'reply', callId, ok: true, value, ...(session ? { snapshot: this.snapshot(session) } : {}) });
    } catch (err) {
      session = this.sessions.get(sessionId);
      this.post({ t: 'reply', callId, ok: false, error: this.callError(sessionId, err), ...(session ? { snapshot: this.snapshot(session) } : {}) });
    }
  }

  private async run(sessionId: string, call: SessionCall): Promise<unknown> {
    if (call.op === 'create') return this.create(sessionId, call);
    const s = this.sessions.get(sessionId);
    if (!s || s.closed) throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'no such session');
    let value: unknown;
    try {
      value = await this.apply(s, call);
    } finally {
      this.watchChannels(s);
    }
    // As SessionService.withSession: after each step past the first, the transports are counted.
    const first = call.op === 'answerOffer' || call.op === 'createOffer';
    if (this.transports.track(s) > TransportSweeper.MAX_TRANSPORTS && !first) {
      s.close('negotiation-failed');
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offers ask for more transports than a session may have (use BUNDLE)');
    }
    return value;
  }

  private async apply(s: Session, call: Exclude<SessionCall, { op: 'create' }>): Promise<unknown> {
    switch (call.op) {
      case 'answerOffer':
        return s.answerOffer(call.offer);
      case 'createOffer':
        return s.createOffer();
      case 'acceptAnswer':
        return s.acceptAnswer(call.answer);
      case 'answerRenegotiation':
        try {
          return await s.answerRenegotiation(call.offer);
        } catch (err) {
          if (err instanceof StreamingError) throw err;
          // As SessionService.renegotiate: werift's message may quote the SDP; stuck half-way, the session closes.
          this.log.debug(`session ${s.id}: renegotiation offer not answerable: ${(err as Error).message}`);
          if (s.peerConnection.signalingState !== 'stable') s.close('negotiation-failed');
          throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offer could not be answered');
        }
      case 'addRemoteCandidate':
        return s.addRemoteCandidate(call.candidate);
      case 'stopVideo':
        return s.stopVideo(call.reason as VideoOffReason, call.kind);
      case 'resumeVideo':
        return s.resumeVideo(call.kind);
      case 'probe':
        return probeSession(s, call.probe);
    }
  }

  private create(id: string, call: Extract<SessionCall, { op: 'create' }>): void {
    const source = this.sources.get(call.sourceId);
    if (!source) throw new StreamingError(ErrorCode.SOURCE_NOT_FOUND, 'unknown source');
    // One DTLS certificate per process: the main thread's (it renews it; see DtlsCertificates).
    if (call.certificate) dtlsCertificates.adopt(call.certificate);
    const event = (e: Parameters<typeof this.post>[0]) => this.post(e);
    const session = Session.create({
      id,
      ownerId: call.ownerId,
      source,
      codec: codecOf(call.codec),
      options: this.options,
      callbacks: {
        candidate: (candidate) => {
          event({ t: 'event', sessionId: id, ev: 'candidate', candidate });
          this.pushSnapshot(session);
        },
        offer: (offer) => event({ t: 'event', sessionId: id, ev: 'offer', offer }),
        state: (state, reason) => {
          this.pushSnapshot(session);
          event({ t: 'event', sessionId: id, ev: 'state', state, ...(reason ? { reason } : {}) });
        },
        message: (data) => event({ t: 'event', sessionId: id, ev: 'message', data }),
        binary: (data) => event({ t: 'event', sessionId: id, ev: 'binary', data: new Uint8Array(data) }),
        closed: (reason) => {
          this.sessions.delete(id);
          this.transports.sweep(session);
          event({ t: 'event', sessionId: id, ev: 'closed', reason });
        },
      },
    });
    session.renegotiation = call.renegotiation;
    this.sessions.set(id, session);
    session.peerConnection.connectionStateChange.subscribe(() => this.pushSnapshot(session));
    session.peerConnection.onDataChannel.subscribe((ch) => this.watchChannel(session, ch));
  }

  private callError(sessionId: string, err: unknown): CallError {
    if (err instanceof StreamingError) return { code: err.code, message: err.message };
    this.log.error(`session ${sessionId}: ${(err as Error)?.stack ?? String(err)}`);
    return { internal: (err as Error)?.message ?? String(err) };
  }

  /**
   * What the main thread reads synchronously is pushed as it changes: the data channel's open
   * state (what `send` answers) and, after each PLI, the picture-loss counts.
   */
  private watchChannels(s: Session): void {
    const channels = s.peerConnection.sctpTransport?.dataChannels ?? {};
    for (const ch of Object.values(channels)) this.watchChannel(s, ch);
    for (const t of s.peerConnection.getTransceivers()) {
      if (this.watched.has(t.sender)) continue;
      this.watched.add(t.sender);
      // After the session's own listener (subscribed first) has counted it.
      t.sender.onPictureLossIndication.subscribe(() => setImmediate(() => this.pushSnapshot(s)));
    }
  }

  private watchChannel(s: Session, ch: RTCDataChannel): void {
    if (this.watched.has(ch)) return;
    this.watched.add(ch);
    ch.stateChanged.subscribe(() => this.pushSnapshot(s));
  }

  private snapshot(s: Session, sdp = true): SessionSnapshot {
    const pc = s.peerConnection;
    const channels = Object.values(pc.sctpTransport?.dataChannels ?? {});
    const { id: _id, ownerId: _owner, source: _source, ...summary } = summaryOf(s);
    return {
      summary,
      channelOpen: channels.some((ch) => ch.readyState === 'open'),
      signalingState: pc.signalingState,
      iceConnectionState: pc.iceConnectionState,
      ...(s.leanStats ? { leanStats: { ...s.leanStats } } : {}),
      ...(s.leanAudioStats ? { leanAudioStats: { ...s.leanAudioStats } } : {}),
      sdp,
      ...(sdp ? { local: pc.localDescription?.sdp, remote: pc.remoteDescription?.sdp } : {}),
      transports: pc.iceTransports.length,
    };
  }

  private pushSnapshot(s: Session, sdp = true): void {
    if (s.closed || !this.sessions.has(s.id)) return;
    this.post({ t: 'snapshot', sessionId: s.id, snapshot: this.snapshot(s, sdp) });
  }

  /** The counters of every session (the descriptions change only with a negotiation: sent then). */
  private pushSnapshots(): void {
    for (const s of this.sessions.values()) this.pushSnapshot(s, false);
  }

  /**
   * werift calls the pair filter synchronously; the filter is the application's function on
   * the main thread. The worker asks and blocks on a shared cell until the answer is written
   * (a few per session; cached per address). No answer within 2 s: refused.
   */
  private remoteFilter(address: string): boolean {
    const known = this.filterCache.get(address);
    if (known !== undefined) return known;
    const cell = this.filterCell!;
    Atomics.store(cell, FILTER_STATE, 0);
    this.post({ t: 'filter', address });
    Atomics.wait(cell, FILTER_STATE, 0, 2000);
    const pass = Atomics.load(cell, FILTER_STATE) === 1 && Atomics.load(cell, FILTER_RESULT) === 1;
    this.filterCache.set(address, pass);
    return pass;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.snapshotTimer);
    const closing = [...this.sessions.values()].map((s) => {
      const pc = s.peerConnection;
      s.close('server-shutdown');
      return pc.close().catch(() => undefined);
    });
    await Promise.all(closing);
    for (const src of this.sources.values()) src.close();
    this.post({ t: 'shutdown-done' });
  }
}
