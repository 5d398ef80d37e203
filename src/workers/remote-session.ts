import type { LeanSenderStats } from '../media/fanout/lean-sender';
import type { MediaSource } from '../media/media-source';
import type {
  IceCandidateInit,
  MediaKind,
  SessionDescriptionAnswer,
  SessionDescriptionOffer,
  SessionState,
} from '../protocol';
import type { SessionCallbacks } from '../session/session';
import type { SessionDescriptions, SessionSummary } from '../session/session-view';
import type { SessionCall, SessionEventMessage, SessionSnapshot } from './messages';
import type { SessionProbe, VideoSenderProbe } from './session-probe';

/** The peer connection's state as last reported by the worker (diagnostics and tests). */
export interface RemotePeerView {
  readonly connectionState: string;
  readonly signalingState: string;
  readonly iceConnectionState: string;
  readonly localDescription?: { type: string; sdp: string };
  readonly remoteDescription?: { type: string; sdp: string };
}

/** How a remote session reaches its worker (MediaWorkerPool's side of the port). */
export interface WorkerLink {
  readonly index: number;
  call(sessionId: string, call: SessionCall): Promise<unknown>;
  post(m: { t: 'close'; sessionId: string; reason: string } | { t: 'send'; sessionId: string; data: string | Uint8Array }): void;
}

/**
 * The main thread's handle on a session hosted by a media worker: the calls `SessionService`
 * makes on a `Session` (negotiation, candidates, stop/resume, send, close), forwarded to the
 * worker, and what the synchronous reads need (state, summary, descriptions, whether the data
 * channel is open) from the snapshots the worker pushes. `close()` is immediate here, as on a
 * local session: the owner is told at once, and the worker tears the connection down after.
 */
export class RemoteSession {
  renegotiation = true;
  private _state: SessionState = 'connecting';
  private _closed = false;
  private snap?: SessionSnapshot;
  /** Why the worker could not create the session (reported by the call that follows, instead of SESSION_NOT_FOUND). */
  private createError?: Error;

  constructor(
    readonly id: string,
    readonly ownerId: string,
    readonly source: MediaSource,
    readonly worker: WorkerLink,
    private readonly callbacks: SessionCallbacks,
  ) {}

  get state(): SessionState {
    return this._state;
  }
  get closed(): boolean {
    return this._closed;
  }
  get pictureLoss(): SessionSummary['pictureLoss'] {
    return this.snap?.summary.pictureLoss ?? { source: 0, replay: 0, limited: 0, ended: 0 };
  }
  /** The lean send path's counters as last reported (a copy: the sender itself lives in the worker). */
  get leanStats(): LeanSenderStats | undefined {
    return this.snap?.leanStats;
  }
  /** The same for the last audio feed. */
  get leanAudioStats(): LeanSenderStats | undefined {
    return this.snap?.leanAudioStats;
  }

  /** ICE transports the worker's peer connection holds. */
  get transportCount(): number {
    return this.snap?.transports ?? 0;
  }

  get peerConnection(): RemotePeerView {
    const s = this.snap;
    return {
      connectionState: s?.summary.connection ?? 'new',
      signalingState: s?.signalingState ?? 'stable',
      iceConnectionState: s?.iceConnectionState ?? 'new',
      ...(s?.local ? { localDescription: { type: 'local', sdp: s.local } } : {}),
      ...(s?.remote ? { remoteDescription: { type: 'remote', sdp: s.remote } } : {}),
    };
  }

  answerOffer(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    return this.call({ op: 'answerOffer', offer }) as Promise<SessionDescriptionAnswer>;
  }
  createOffer(): Promise<SessionDescriptionOffer> {
    return this.call({ op: 'createOffer' }) as Promise<SessionDescriptionOffer>;
  }
  async acceptAnswer(answer: SessionDescriptionAnswer): Promise<void> {
    await this.call({ op: 'acceptAnswer', answer });
  }
  answerRenegotiation(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    return this.call({ op: 'answerRenegotiation', offer }) as Promise<SessionDescriptionAnswer>;
  }
  async addRemoteCandidate(candidate: IceCandidateInit | null): Promise<void> {
    await this.call({ op: 'addRemoteCandidate', candidate });
  }
  async stopVideo(reason = 'video-stopped', kind?: MediaKind): Promise<void> {
    await this.call({ op: 'stopVideo', reason, ...(kind ? { kind } : {}) });
  }
  async resumeVideo(kind?: MediaKind): Promise<void> {
    await this.call({ op: 'resumeVideo', ...(kind ? { kind } : {}) });
  }

  /** Tests only: does `probe` to the worker's werift objects of this session (see session-probe.ts). */
  probe(probe: SessionProbe): Promise<VideoSenderProbe | undefined> {
    return this.call({ op: 'probe', probe }) as Promise<VideoSenderProbe | undefined>;
  }

  /** Sends on the data channel; false when the worker last reported it not open. */
  send(data: string | Buffer): boolean {
    if (this._closed || !this.snap?.channelOpen) return false;
    this.worker.post({ t: 'send', sessionId: this.id, data: typeof data === 'string' ? data : new Uint8Array(data) });
    return true;
  }

  close(reason: string): void {
    if (this._closed) return;
    this.worker.post({ t: 'close', sessionId: this.id, reason });
    this.end(reason);
  }

  /** Its worker died: the session ends here with `media-worker-failed`. */
  workerFailed(): void {
    this.end('media-worker-failed');
  }

  summary(): SessionSummary {
    const s = this.snap?.summary;
    return {
      id: this.id,
      ownerId: this.ownerId,
      source: this.source.id,
      state: this._state,
      connection: s?.connection ?? 'new',
      ...(s?.remote ? { remote: s.remote } : {}),
      senders: s?.senders ?? [],
      pictureLoss: this.pictureLoss,
      audio: s?.audio ?? 'none',
    };
  }

  descriptions(): SessionDescriptions {
    return { local: this.snap?.local, remote: this.snap?.remote };
  }

  /** @internal The worker's `create` failed. */
  createFailed(err: Error): void {
    this.createError = err;
  }

  /** @internal The worker's snapshot of this session. */
  snapshot(s: SessionSnapshot): void {
    // A description, once known, stays until a newer one (the periodic counters carry none).
    const prev = this.snap;
    this.snap = prev ? { ...s, local: s.local ?? prev.local, remote: s.remote ?? prev.remote } : s;
  }

  /** @internal An event of the worker's session. */
  event(e: SessionEventMessage): void {
    if (this._closed) return;
    switch (e.ev) {
      case 'candidate':
        return this.callbacks.candidate(e.candidate);
      case 'offer':
        return this.callbacks.offer(e.offer);
      case 'message':
        return this.callbacks.message(e.data);
      case 'binary':
        return this.callbacks.binary?.(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
      case 'state':
        if (e.state === 'closed') return this.end(e.reason ?? 'closed');
        this._state = e.state;
        return this.callbacks.state(e.state, e.reason);
      case 'closed':
        return this.end(e.reason);
    }
  }

  private async call(call: SessionCall): Promise<unknown> {
    try {
      return await this.worker.call(this.id, call);
    } catch (err) {
      throw this.createError ?? err;
    }
  }

  private end(reason: string): void {
    if (this._closed) return;
    this._closed = true;
    this._state = 'closed';
    this.callbacks.state('closed', reason);
    this.callbacks.closed(reason);
  }
}
