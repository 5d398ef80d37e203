/**
 * Browser client library: socket.io-client for signalling plus the browser's own
 * RTCPeerConnection. Receive-only (no getUserMedia, so no permission prompt).
 *
 *   const client = new StreamingClient({ url: location.origin });
 *   const session = await client.start({ video: document.querySelector('video') });
 *   session.addEventListener('state', () => console.log(session.state));
 *   session.send('ping');
 *   await session.close();
 *
 * Reconnection: when the signalling socket drops (a node died or drained behind a load
 * balancer), socket.io-client reconnects, possibly to another node; each session that was
 * lost then restarts on its own with the same options (a new session id), with backoff. In
 * between its state is `reconnecting`. `reconnect: false` turns this off (lost sessions
 * close with the reason `signalling-lost`).
 */
import { io, Socket } from 'socket.io-client';
import {
  Ack,
  ClientToServerEvents,
  DATA_CHANNEL_LABEL,
  ErrorCode,
  IceCandidateInit,
  ServerConfig,
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
  /**
   * Passed to RTCPeerConnection (ICE servers and so on). Without it the client asks the
   * server for its ICE servers (`config:get`) before the first session.
   */
  rtcConfig?: RTCConfiguration;
  /** Time to wait for each ack (ms). */
  requestTimeoutMs?: number;
  /** Which local ICE candidates to send to the server (default: all). */
  candidateFilter?: (candidate: RTCIceCandidate) => boolean;
  /** Restart lost sessions when the socket reconnects (default on); `false` turns it off. */
  reconnect?: boolean | ReconnectOptions;
}

export interface ReconnectOptions {
  /** First pause between two restart attempts of a session (ms, default 250). */
  baseDelayMs?: number;
  /** Longest pause (ms, default 5000). */
  maxDelayMs?: number;
  /** Attempts before the session gives up and closes with `reconnect-failed` (default 10). */
  maxAttempts?: number;
}

/**
 * A session's state as the page sees it: the server's states, plus `reconnecting` while
 * the client restarts a session that lost its server.
 */
export type ViewerState = SessionState | 'reconnecting';

/** Server close reasons after which a session restarts (the node went away, not the session). */
const RESTARTABLE = new Set(['signalling-lost', 'server-shutdown', 'server-draining']);

export interface StartOptions {
  /** Media source id; the server's default when absent. */
  source?: string;
  /** A video element to play the stream in. */
  video?: HTMLVideoElement;
  /**
   * `client` (default): the browser offers the data channel and the server then adds the
   * video; `server`: the server offers. Either way the data channel is negotiated first.
   */
  offerer?: 'client' | 'server';
}

/** Owns the signalling socket; starts viewer sessions on it. */
export class StreamingClient {
  readonly socket: ClientSocket;
  private readonly sessions = new Map<string, ViewerSession>();
  /** Events for a session whose start ack has not been processed yet. */
  private readonly early = new Map<string, Array<() => void>>();
  private readonly ownsSocket: boolean;
  /** Sessions waiting for the socket to come back to restart. */
  private readonly suspended = new Set<ViewerSession>();
  /** The node that holds our socket (`server:hello`), when the server says. */
  node?: string;
  /** The node said it is shutting down; cleared on the next connection. */
  draining = false;
  /** @internal */
  readonly reconnect: Required<ReconnectOptions> | undefined;

  constructor(readonly options: StreamingClientOptions = {}) {
    this.ownsSocket = !options.socket;
    const r = options.reconnect ?? true;
    this.reconnect = r === false ? undefined : { baseDelayMs: 250, maxDelayMs: 5_000, maxAttempts: 10, ...(r === true ? {} : r) };
    this.socket =
      options.socket ??
      io(options.url ?? globalThis.location?.origin, {
        path: options.path,
        transports: ['websocket', 'polling'],
        reconnectionDelay: 250,
        reconnectionDelayMax: 5_000,
      });
    this.socket.on('session:candidate', (e) => this.route(e.sessionId, (s) => s.onRemoteCandidate(e)));
    this.socket.on('session:offer', (e) => this.route(e.sessionId, (s) => s.onRemoteOffer(e)));
    this.socket.on('session:state', (e) => this.route(e.sessionId, (s) => s.onServerState(e)));
    this.socket.on('server:hello', (e) => (this.node = e.node));
    this.socket.on('server:draining', () => {
      this.draining = true;
      for (const s of [...this.sessions.values()]) s.lost('server-draining');
    });
    this.socket.on('disconnect', (reason) => {
      for (const s of [...this.sessions.values()]) s.lost('signalling-lost');
      // A server that closes our socket on purpose is not reconnected to by socket.io-client;
      // while sessions wait to restart (a draining node), reconnect through the balancer.
      if (reason === 'io server disconnect' && this.suspended.size && this.ownsSocket) {
        setTimeout(() => this.socket.connect(), 250);
      }
    });
    this.socket.on('connect', () => {
      this.draining = false;
      for (const s of [...this.suspended]) void this.restart(s);
    });
  }

  /** Starts a viewer session and resolves once the server accepted it (not yet playing). */
  async start(opts: StartOptions = {}): Promise<ViewerSession> {
    await this.loadServerConfig();
    const session = new ViewerSession(this, opts);
    try {
      this.register(await session.negotiate(opts.offerer ?? 'client'), session);
      return session;
    } catch (err) {
      session.pc.close();
      throw err;
    }
  }

  private serverConfig?: ServerConfig;

  /** The RTCPeerConnection configuration: `rtcConfig`, or the server's ICE servers. */
  rtcConfiguration(): RTCConfiguration | undefined {
    if (this.options.rtcConfig) return this.options.rtcConfig;
    return this.serverConfig ? { iceServers: this.serverConfig.iceServers } : undefined;
  }

  /** Fetches the server's client configuration once (an older server without `config:get`: none). */
  private async loadServerConfig(): Promise<void> {
    if (this.options.rtcConfig || this.serverConfig) return;
    try {
      const { iceServers } = await this.request('config:get', {});
      this.serverConfig = { iceServers };
    } catch (err) {
      if (err instanceof StreamingClientError && err.code === 'UNKNOWN_EVENT') this.serverConfig = { iceServers: [] };
      else throw err;
    }
  }

  /** Closes every session and the socket (when this client created it). */
  close(): void {
    for (const s of [...this.sessions.values(), ...this.suspended]) void s.close();
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
  forget(id: string, session?: ViewerSession): void {
    if (this.sessions.get(id) === session || !session) this.sessions.delete(id);
    if (session) this.suspended.delete(session);
  }

  /**
   * @internal A session lost its server: it restarts once the socket is (again) connected.
   * A node that shuts down closes its sessions before its sockets, so a session closed that
   * way waits for the reconnection too; if the socket stays up anyway, it restarts here.
   */
  suspend(session: ViewerSession): void {
    this.suspended.add(session);
    setTimeout(() => {
      if (this.suspended.has(session) && this.socket.connected) void this.restart(session);
    }, 5_000);
  }

  private register(id: string, session: ViewerSession): void {
    this.sessions.set(id, session);
    for (const fn of this.early.get(id) ?? []) fn();
    this.early.delete(id);
  }

  /** Restarts a suspended session, with backoff, while the socket stays connected. */
  private async restart(session: ViewerSession): Promise<void> {
    const r = this.reconnect!;
    if (session.restarting) return;
    session.restarting = true;
    try {
      while (this.suspended.has(session) && this.socket.connected) {
        if (session.attempts >= r.maxAttempts) {
          this.suspended.delete(session);
          session.markClosed('reconnect-failed');
          return;
        }
        const delay = session.attempts === 0 ? 0 : Math.min(r.baseDelayMs * 2 ** (session.attempts - 1), r.maxDelayMs);
        session.attempts++;
        if (delay) await new Promise((res) => setTimeout(res, delay * (0.75 + Math.random() / 2)));
        if (!this.suspended.has(session) || !this.socket.connected) return;
        try {
          const id = await session.renew();
          if (!this.suspended.has(session)) return; // closed meanwhile
          this.suspended.delete(session);
          session.attempts = 0;
          this.register(id, session);
          return;
        } catch (err) {
          console.warn('session restart failed', err);
        }
      }
    } finally {
      session.restarting = false;
    }
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
  /** The current peer connection (a restart after a reconnection makes a new one). */
  pc!: RTCPeerConnection;
  id = '';
  state: ViewerState = 'connecting';
  /** @internal restart attempts since the session was lost */
  attempts = 0;
  /** @internal */
  restarting = false;
  /** Why the session reached its current state, when the server said. */
  reason?: string;
  stream?: MediaStream;
  channel?: RTCDataChannel;
  private remoteQueue: (RTCIceCandidateInit | null)[] = [];
  private localQueue: (IceCandidateInit | null)[] = [];
  private remoteSet = false;
  /** Whether any local candidate passed the candidate filter. */
  private localPassed = false;

  constructor(
    private readonly client: StreamingClient,
    private readonly opts: StartOptions,
  ) {
    super();
    this.newPeer();
  }

  private newPeer(): void {
    const pc = (this.pc = new RTCPeerConnection(this.client.rtcConfiguration()));
    // Handlers of a peer connection a restart replaced must not touch the new one.
    const current = () => this.pc === pc;
    pc.onicecandidate = (e) => current() && this.onLocalCandidate(e.candidate);
    pc.ontrack = (e) => {
      if (!current()) return;
      // A resumed video is a new transceiver with a new stream.
      this.stream = e.streams[0] ?? new MediaStream([e.track]);
      if (this.opts.video) this.opts.video.srcObject = this.stream;
      this.dispatchEvent(new Event('track'));
    };
    pc.ondatachannel = (e) => current() && this.attachChannel(e.channel);
    pc.onconnectionstatechange = () => {
      if (current() && pc.connectionState === 'failed') this.markClosed('ice-failed');
    };
  }

  /** @internal The server is gone (or going): drop the connection, restart when possible. */
  lost(reason: string): void {
    if (this.state === 'closed' || this.state === 'reconnecting') return;
    if (!this.client.reconnect) return this.markClosed(reason);
    this.channel?.close();
    this.pc.close();
    this.client.forget(this.id);
    this.setState('reconnecting', reason);
    this.client.suspend(this);
  }

  /** @internal A new peer connection and a new server session, with the same options. */
  async renew(): Promise<string> {
    this.pc.close();
    this.newPeer();
    this.id = '';
    this.remoteQueue = [];
    this.localQueue = [];
    this.remoteSet = false;
    this.localPassed = false;
    this.channel = undefined;
    this.chain = Promise.resolve();
    try {
      return await this.negotiate(this.opts.offerer ?? 'client');
    } catch (err) {
      this.pc.close();
      throw err;
    }
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
      if (this.id && this.state !== 'reconnecting' && this.client.socket.connected) {
        await this.client.request('session:close', { sessionId: this.id });
      }
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
   * Stops the video from this side and offers; the data channel stays. The video
   * transceiver is stopped (its m-line goes to port 0), except when its m-line is the
   * BUNDLE tag: rejecting that one would make the browser replace its transport, the data
   * channel with it, so it is set `inactive` instead.
   */
  stopVideoLocally(): Promise<void> {
    return this.offerChange(() => {
      const t = this.videoTransceiver();
      if (!t || t.direction === 'inactive') return false;
      if (t.mid !== null && t.mid === bundleTag(this.pc)) t.direction = 'inactive';
      else t.stop();
      return true;
    });
  }

  /** Asks the server to bring the video back. Resolves when the renegotiation is done. */
  async resumeVideo(): Promise<void> {
    // After our own inactive stop: receive again, so that our answer to the server's offer does.
    const t = this.videoTransceiver();
    if (t?.direction === 'inactive') t.direction = 'recvonly';
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
    if (e.state === 'closed') {
      // A node that shuts down closes its sessions first: come back on another node.
      if (e.reason && RESTARTABLE.has(e.reason)) return this.lost(e.reason);
      return this.markClosed(e.reason ?? 'closed');
    }
    this.setState(e.state, e.reason);
  }

  /** @internal */
  markClosed(reason: string): void {
    if (this.state === 'closed') return;
    this.channel?.close();
    this.pc.close();
    this.client.forget(this.id, this);
    this.setState('closed', reason);
  }

  private setState(state: ViewerState, reason?: string): void {
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

/** The BUNDLE tag (the first mid of the negotiated BUNDLE group), if any. */
function bundleTag(pc: RTCPeerConnection): string | undefined {
  return /^a=group:BUNDLE (\S+)/m.exec(pc.currentRemoteDescription?.sdp ?? '')?.[1];
}
