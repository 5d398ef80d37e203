/**
 * Browser client library: socket.io-client for signalling plus the browser's own
 * RTCPeerConnection. Receive-only (no getUserMedia, so no permission prompt).
 *
 *   const client = new StreamingClient({ url: location.origin });
 *   const session = await client.start({ video: document.querySelector('video') });
 *   session.addEventListener('state', () => console.log(session.state));
 *   session.send('ping');
 *   await session.close();
 */
import { io, Socket } from 'socket.io-client';
import {
  Ack,
  ClientToServerEvents,
  DATA_CHANNEL_LABEL,
  ErrorCode,
  IceCandidateInit,
  ServerToClientEvents,
  SessionCandidateEvent,
  SessionOfferEvent,
  SessionState,
  SessionStateEvent,
} from '../protocol';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export class StreamingClientError extends Error {
  constructor(
    readonly code: ErrorCode | 'TIMEOUT',
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
  /** Passed to RTCPeerConnection (ICE servers and so on). */
  rtcConfig?: RTCConfiguration;
  /** Time to wait for each ack (ms). */
  requestTimeoutMs?: number;
  /** Which local ICE candidates to send to the server (default: all). */
  candidateFilter?: (candidate: RTCIceCandidate) => boolean;
}

export interface StartOptions {
  /** Media source id; the server's default when absent. */
  source?: string;
  /** A video element to play the stream in. */
  video?: HTMLVideoElement;
  /** `client` (default): the browser offers recvonly video; `server`: the server offers. */
  offerer?: 'client' | 'server';
}

/** Owns the signalling socket; starts viewer sessions on it. */
export class StreamingClient {
  readonly socket: ClientSocket;
  private readonly sessions = new Map<string, ViewerSession>();
  /** Events for a session whose start ack has not been processed yet. */
  private readonly early = new Map<string, Array<() => void>>();
  private readonly ownsSocket: boolean;

  constructor(readonly options: StreamingClientOptions = {}) {
    this.ownsSocket = !options.socket;
    this.socket =
      options.socket ??
      io(options.url ?? globalThis.location?.origin, {
        path: options.path,
        transports: ['websocket', 'polling'],
      });
    this.socket.on('session:candidate', (e) => this.route(e.sessionId, (s) => s.onRemoteCandidate(e)));
    this.socket.on('session:offer', (e) => this.route(e.sessionId, (s) => s.onRemoteOffer(e)));
    this.socket.on('session:state', (e) => this.route(e.sessionId, (s) => s.onServerState(e)));
    this.socket.on('disconnect', () => {
      for (const s of [...this.sessions.values()]) s.markClosed('signalling-lost');
    });
  }

  /** Starts a viewer session and resolves once the server accepted it (not yet playing). */
  async start(opts: StartOptions = {}): Promise<ViewerSession> {
    const session = new ViewerSession(this, opts);
    try {
      const id = await session.negotiate(opts.offerer ?? 'client');
      this.sessions.set(id, session);
      for (const fn of this.early.get(id) ?? []) fn();
      this.early.delete(id);
      return session;
    } catch (err) {
      session.pc.close();
      throw err;
    }
  }

  /** Closes every session and the socket (when this client created it). */
  close(): void {
    for (const s of [...this.sessions.values()]) void s.close();
    if (this.ownsSocket) this.socket.disconnect();
  }

  /** Sends a request and unwraps its ack: resolves with the ok payload, throws the error. */
  async request<K extends keyof ClientToServerEvents>(
    event: K,
    payload: Parameters<ClientToServerEvents[K]>[0],
  ): Promise<Extract<Parameters<Parameters<ClientToServerEvents[K]>[1]>[0], { ok: true }>> {
    let res: Ack<object>;
    try {
      // socket.io's typed emitWithAck cannot follow a generic event name.
      const s = this.socket.timeout(this.options.requestTimeoutMs ?? 10_000) as unknown as {
        emitWithAck(e: string, p: unknown): Promise<Ack<object>>;
      };
      res = await s.emitWithAck(event, payload);
    } catch {
      throw new StreamingClientError('TIMEOUT', `${event}: no answer from the server`);
    }
    if (!res.ok) throw new StreamingClientError(res.error.code, res.error.message);
    return res as never;
  }

  /** @internal */
  forget(id: string): void {
    this.sessions.delete(id);
  }

  private route(id: string, fn: (s: ViewerSession) => void): void {
    const s = this.sessions.get(id);
    if (s) return fn(s);
    // The server's first candidates can overtake our handling of the start ack.
    const queue = this.early.get(id) ?? [];
    if (queue.length < 64) queue.push(() => this.route(id, fn));
    this.early.set(id, queue);
    setTimeout(() => this.early.delete(id), 30_000);
  }
}

export interface ViewerSessionEventMap {
  state: Event;
  message: MessageEvent<string>;
  track: Event;
  /** The data channel opened or closed. */
  channel: Event;
}

/**
 * One viewer session: an RTCPeerConnection that receives video and a data channel.
 * Events: `state` (see `state`), `message` (data-channel text), `track` (video arrived).
 */
export class ViewerSession extends EventTarget {
  readonly pc: RTCPeerConnection;
  id = '';
  state: SessionState = 'connecting';
  /** Why the session reached its current state, when the server said. */
  reason?: string;
  stream?: MediaStream;
  channel?: RTCDataChannel;
  private readonly remoteQueue: (RTCIceCandidateInit | null)[] = [];
  private readonly localQueue: (IceCandidateInit | null)[] = [];
  private remoteSet = false;
  /** Whether any local candidate passed the candidate filter. */
  private localPassed = false;

  constructor(
    private readonly client: StreamingClient,
    private readonly opts: StartOptions,
  ) {
    super();
    this.pc = new RTCPeerConnection(client.options.rtcConfig);
    this.pc.onicecandidate = (e) => this.onLocalCandidate(e.candidate);
    this.pc.ontrack = (e) => {
      // A resumed video is a new transceiver with a new stream.
      this.stream = e.streams[0] ?? new MediaStream([e.track]);
      if (this.opts.video) this.opts.video.srcObject = this.stream;
      this.dispatchEvent(new Event('track'));
    };
    this.pc.ondatachannel = (e) => this.attachChannel(e.channel);
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === 'failed') this.markClosed('ice-failed');
    };
  }

  /** Sends text on the data channel; false when it is not open. */
  send(text: string): boolean {
    if (this.channel?.readyState !== 'open') return false;
    this.channel.send(text);
    return true;
  }

  /** Ends the session on the server and here. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    try {
      if (this.id && this.client.socket.connected) await this.client.request('session:close', { sessionId: this.id });
    } finally {
      this.markClosed('client-closed');
    }
  }

  /** @internal */
  async negotiate(offerer: 'client' | 'server'): Promise<string> {
    return this.serial(async () => {
      if (offerer === 'client') {
        // Only the data channel: the server adds the video in a second negotiation, so the
        // data channel's m-line owns the BUNDLE transport and survives a video stop
        // (Chromium replaces the whole transport when the BUNDLE-tag m-line is stopped).
        this.attachChannel(this.pc.createDataChannel(DATA_CHANNEL_LABEL));
        await this.pc.setLocalDescription(await this.pc.createOffer());
        const res = await this.client.request('session:start', {
          ...(this.opts.source ? { source: this.opts.source } : {}),
          offer: { type: 'offer', sdp: this.pc.localDescription!.sdp },
        });
        this.setId(res.sessionId);
        if (!('answer' in res)) throw new StreamingClientError('NEGOTIATION_FAILED', 'the server did not answer');
        await this.applyRemote(res.answer);
        return this.id;
      }
      const res = await this.client.request('session:start', this.opts.source ? { source: this.opts.source } : {});
      this.setId(res.sessionId);
      if (!('offer' in res)) throw new StreamingClientError('NEGOTIATION_FAILED', 'the server sent no offer');
      await this.answer(res.offer);
      return this.id;
    });
  }

  /** Asks the server to stop only the video; the data channel stays. Resolves when done. */
  async stopVideo(): Promise<void> {
    await this.client.request('session:stop-video', { sessionId: this.id });
  }

  /**
   * Stops the video from this side: stops the video transceiver and offers (the video
   * m-line goes to port 0). The data channel stays.
   */
  stopVideoLocally(): Promise<void> {
    return this.offerChange(() => {
      const t = this.videoTransceiver();
      if (!t) return false;
      t.stop();
      return true;
    });
  }

  /** Asks the server to bring the video back. Resolves when the renegotiation is done. */
  async resumeVideo(): Promise<void> {
    await this.client.request('session:resume-video', { sessionId: this.id });
  }

  /** The live video transceiver, if any. */
  videoTransceiver(): RTCRtpTransceiver | undefined {
    return this.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video' && t.currentDirection !== 'stopped' && t.direction !== 'stopped');
  }

  /**
   * Makes a local change and offers it. We are the polite peer: when the server's own offer
   * is out, the server refuses ours with INVALID_STATE; we answer its offer (queued behind
   * this step) and try again.
   */
  private async offerChange(change: () => boolean, attempts = 3): Promise<void> {
    for (let i = 0; i < attempts; i++) {
      const retry = await this.serial(async () => {
        if (this.state === 'closed' || !change()) return false;
        await this.pc.setLocalDescription(await this.pc.createOffer());
        try {
          const res = await this.client.request('session:offer', {
            sessionId: this.id,
            offer: { type: 'offer', sdp: this.pc.localDescription!.sdp },
          });
          await this.applyRemote(res.answer);
          return false;
        } catch (err) {
          await this.pc.setLocalDescription({ type: 'rollback' });
          if (err instanceof StreamingClientError && err.code === 'INVALID_STATE') return true;
          throw err;
        }
      });
      if (!retry) return;
      await new Promise((r) => setTimeout(r, 50 * (i + 1)));
    }
    throw new StreamingClientError('INVALID_STATE', 'the server kept renegotiating; try again');
  }

  /** Runs signalling steps one at a time (an offer from the server waits for ours). */
  private chain: Promise<unknown> = Promise.resolve();
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async answer(offer: RTCSessionDescriptionInit): Promise<void> {
    await this.applyRemote(offer);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.client.request('session:answer', {
      sessionId: this.id,
      answer: { type: 'answer', sdp: this.pc.localDescription!.sdp },
    });
  }

  /** @internal */
  onRemoteCandidate(e: SessionCandidateEvent): void {
    const c = e.candidate
      ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
      : null;
    if (!this.remoteSet) this.remoteQueue.push(c);
    else void this.addRemote(c);
  }

  /** @internal A renegotiation the server started. */
  onRemoteOffer(e: SessionOfferEvent): Promise<void> {
    return this.serial(() => this.answer(e.offer)).catch((err) => {
      console.warn('could not answer the server offer', err);
    });
  }

  /** @internal */
  onServerState(e: SessionStateEvent): void {
    if (e.state === 'closed') return this.markClosed(e.reason ?? 'closed');
    this.setState(e.state, e.reason);
  }

  /** @internal */
  markClosed(reason: string): void {
    if (this.state === 'closed') return;
    this.channel?.close();
    this.pc.close();
    this.client.forget(this.id);
    this.setState('closed', reason);
  }

  private setState(state: SessionState, reason?: string): void {
    if (this.state === state && this.reason === reason) return;
    this.state = state;
    this.reason = reason;
    this.dispatchEvent(new Event('state'));
  }

  private setId(id: string): void {
    this.id = id;
    for (const c of this.localQueue.splice(0)) this.sendCandidate(c);
  }

  private async applyRemote(desc: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(desc);
    this.remoteSet = true;
    for (const c of this.remoteQueue.splice(0)) await this.addRemote(c);
  }

  private async addRemote(c: RTCIceCandidateInit | null): Promise<void> {
    try {
      await this.pc.addIceCandidate(c ?? undefined);
    } catch (err) {
      console.warn('remote candidate rejected', err);
    }
  }

  private onLocalCandidate(c: RTCIceCandidate | null): void {
    if (c && this.client.options.candidateFilter && !this.client.options.candidateFilter(c)) return;
    const init: IceCandidateInit | null = c
      ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment }
      : null;
    if (init && init.candidate === '') return; // Chromium's empty end-of-generation marker
    // When the filter let no candidate through, the server can only learn our address from
    // our connectivity checks (peer-reflexive). werift fails ICE at once if end-of-candidates
    // arrives while its check list is still empty, so do not announce it in that case.
    if (!init && this.client.options.candidateFilter && !this.localPassed) return;
    if (init) this.localPassed = true;
    if (!this.id) this.localQueue.push(init);
    else this.sendCandidate(init);
  }

  private sendCandidate(c: IceCandidateInit | null): void {
    if (this.state === 'closed') return;
    this.client.request('session:candidate', { sessionId: this.id, candidate: c }).catch((err) => {
      console.warn('candidate not accepted', err);
    });
  }

  private attachChannel(ch: RTCDataChannel): void {
    this.channel = ch;
    ch.onopen = ch.onclose = () => this.dispatchEvent(new Event('channel'));
    ch.onmessage = (e) => {
      if (typeof e.data === 'string') this.dispatchEvent(new MessageEvent('message', { data: e.data }));
    };
  }
}
