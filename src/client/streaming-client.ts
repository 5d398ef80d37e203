/**
 * Browser client library: socket.io-client for signalling plus the browser's own
 * RTCPeerConnection. Receive-only (no getUserMedia, so no permission prompt).
 *
 *   const client = new StreamingClient({ url: location.origin });
 *   const session = await client.start({ video: document.querySelector('video')! });
 *   session.addEventListener('state', () => console.log(session.state));
 *   session.send('ping'); // queued until the data channel is open
 *   await session.close();
 *
 * Reconnection: when the signalling socket drops (a node died or drained behind a load
 * balancer), socket.io-client reconnects, possibly to another node; each session that was
 * lost then restarts on its own with the same options (a new session id), with backoff. In
 * between its state is `reconnecting`, and each attempt is announced by a `reconnecting`
 * event (attempt number and the time of the try). `reconnect: false` turns this off (lost
 * sessions close with the reason `signalling-lost`).
 *
 * ICE: a connection that stays `disconnected` for a moment, or goes `failed`, is restarted
 * in place (an ICE-restart offer through `session:offer`; the session id, the data channel
 * and the video stay). When that does not bring it back, the session restarts as above.
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
} from '../protocol/index.js';
import { StatsBaseline, ViewerStats, summarizeStats } from './stats.js';

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

/**
 * Close reasons after which a session restarts: the node went away, or the network path
 * did, not the session itself.
 */
const RESTARTABLE = new Set(['signalling-lost', 'server-shutdown', 'server-draining', 'ice-failed', 'ice-disconnected']);

/** Most messages (and bytes) `send` queues while the data channel is not open. */
const MAX_QUEUED_MESSAGES = 256;
const MAX_QUEUED_BYTES = 1024 * 1024;
/** How long an ICE restart may take before the session restarts instead (ms). */
const ICE_RESTART_TIMEOUT_MS = 8_000;

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
   * `client` (default): the browser offers the data channel and the server then adds the
   * video; `server`: the server offers. Either way the data channel is negotiated first.
   */
  offerer?: 'client' | 'server';
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
  lost(reason: string): void;
  /** The signalling socket is connected (again). */
  socketUp(): void;
  onCandidate(e: SessionCandidateEvent): void;
  onOffer(e: SessionOfferEvent): Promise<void>;
  onState(e: SessionStateEvent): void;
  markClosed(reason: string): void;
}

/** Owns the signalling socket; starts viewer sessions on it. */
export class StreamingClient {
  readonly socket: ClientSocket;
  /** Sessions by their current server id. */
  private readonly sessions = new Map<string, SessionControl>();
  /** Every live session, with or without a server session. */
  private readonly live = new Set<SessionControl>();
  /** Events for a session whose start ack has not been processed yet. */
  private readonly early = new Map<string, Array<() => void>>();
  private readonly ownsSocket: boolean;
  private readonly reconnect: Required<ReconnectOptions> | undefined;
  private readonly link: ClientLink;
  /** The node that holds our socket (`server:hello`), when the server says. */
  node?: string;
  /** The node said it is shutting down; cleared on the next connection. */
  draining = false;

  constructor(readonly options: StreamingClientOptions = {}) {
    this.ownsSocket = !options.socket;
    const r = options.reconnect ?? true;
    this.reconnect = r === false ? undefined : { baseDelayMs: 250, maxDelayMs: 5_000, maxAttempts: 20, ...(r === true ? {} : r) };
    this.socket =
      options.socket ??
      io(options.url ?? globalThis.location?.origin, {
        path: options.path,
        transports: ['websocket', 'polling'],
        reconnectionDelay: 250,
        reconnectionDelayMax: 5_000,
      });
    this.link = {
      options,
      socket: this.socket,
      reconnect: this.reconnect,
      request: (event, payload) => this.request(event, payload),
      rtcConfiguration: () => this.rtcConfiguration(),
      register: (id, control) => this.register(id, control),
      forget: (id, control) => {
        if (this.sessions.get(id) === control) this.sessions.delete(id);
      },
      release: (control) => {
        this.live.delete(control);
        for (const [id, c] of this.sessions) if (c === control) this.sessions.delete(id);
      },
      bind: (control) => this.live.add(control),
    };
    this.socket.on('session:candidate', (e) => this.route(e.sessionId, (s) => s.onCandidate(e)));
    this.socket.on('session:offer', (e) => this.route(e.sessionId, (s) => void s.onOffer(e)));
    this.socket.on('session:state', (e) => this.route(e.sessionId, (s) => s.onState(e)));
    this.socket.on('server:hello', (e) => (this.node = e.node));
    this.socket.on('server:draining', () => {
      this.draining = true;
      for (const s of [...this.sessions.values()]) s.lost('server-draining');
    });
    this.socket.on('disconnect', (reason) => {
      for (const s of [...this.sessions.values()]) s.lost('signalling-lost');
      // A server that closes our socket on purpose is not reconnected to by socket.io-client;
      // while sessions wait to restart (a draining node), reconnect through the balancer.
      if (reason === 'io server disconnect' && this.live.size && this.ownsSocket) {
        setTimeout(() => this.socket.connect(), 250);
      }
    });
    this.socket.on('connect', () => {
      this.draining = false;
      for (const s of [...this.live]) s.socketUp();
    });
  }

  /** Starts a viewer session and resolves once the server accepted it (not yet playing). */
  async start(opts: StartOptions = {}): Promise<ViewerSession> {
    await this.loadServerConfig();
    let control!: SessionControl;
    const session = new ViewerSession({ ...this.link, bind: (c) => (control = c) }, opts);
    try {
      this.register(await control.negotiate(), control);
      this.live.add(control);
      return session;
    } catch (err) {
      control.markClosed('start-failed');
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

  /**
   * Closes every session (each is ended on the server while the socket is up) and then the
   * socket, when this client created it. Resolves when all of that is done.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.live].map((s) => s.session.close()));
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

  private register(id: string, control: SessionControl): void {
    this.sessions.set(id, control);
    for (const fn of this.early.get(id) ?? []) fn();
    this.early.delete(id);
  }

  private route(id: string, fn: (s: SessionControl) => void): void {
    const s = this.sessions.get(id);
    if (s) return fn(s);
    // The server's first candidates can overtake our handling of the start ack.
    const queue = this.early.get(id) ?? [];
    if (queue.length < 64) queue.push(() => this.route(id, fn));
    this.early.set(id, queue);
    setTimeout(() => this.early.delete(id), 30_000);
  }
}

/**
 * One viewer session: an RTCPeerConnection that receives video and a data channel.
 * Events: see `ViewerSessionEventMap` (`addEventListener` is typed with it).
 */
export class ViewerSession extends EventTarget {
  /** The current peer connection (a restart after a reconnection makes a new one). */
  pc!: RTCPeerConnection;
  /** The server's id of the session (a restart gets a new one). */
  id = '';
  state: ViewerState = 'connecting';
  /** Why the session reached its current state, when the server (or the client) said. */
  reason?: string;
  stream?: MediaStream;
  channel?: RTCDataChannel;
  /** While `reconnecting`: the scheduled attempt. */
  reconnectInfo?: ReconnectInfo;
  /** The browser refused to start playback (autoplay policy); `play()` from a click fixes it. */
  playBlocked = false;
  private readonly client: ClientLink;
  private readonly opts: StartOptions;
  private readonly control: SessionControl;
  /** Restart attempts since the session was lost. */
  private attempts = 0;
  private restarting = false;
  /** Wakes a restart waiting for its next attempt (the socket came back). */
  private wake?: () => void;
  private remoteQueue: (RTCIceCandidateInit | null)[] = [];
  private localQueue: (IceCandidateInit | null)[] = [];
  private remoteSet = false;
  /** Whether any local candidate passed the candidate filter. */
  private localPassed = false;
  /** Messages `send` queued until the data channel opens. */
  private outbox: ChannelData[] = [];
  private outboxBytes = 0;
  private statsBaseline?: StatsBaseline;
  private iceTimer?: ReturnType<typeof setTimeout>;
  private iceRestarting = false;

  /** Made by `StreamingClient.start()`. */
  constructor(client: ClientLink, opts: StartOptions) {
    super();
    this.client = client;
    this.opts = opts;
    this.control = {
      session: this,
      negotiate: () => this.negotiate(this.opts.offerer ?? 'client'),
      lost: (reason) => this.lost(reason),
      socketUp: () => this.socketUp(),
      onCandidate: (e) => this.onRemoteCandidate(e),
      onOffer: (e) => this.onRemoteOffer(e),
      onState: (e) => this.onServerState(e),
      markClosed: (reason) => this.markClosed(reason),
    };
    client.bind(this.control);
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
      this.attachVideo();
      this.dispatchEvent(new Event('track'));
    };
    pc.ondatachannel = (e) => current() && this.attachChannel(e.channel);
    pc.onconnectionstatechange = () => current() && this.onConnectionState(pc.connectionState);
  }

  /**
   * Sends a data-channel message: text, or binary (an ArrayBuffer or a typed array). While
   * the channel is not open yet (just started, reconnecting) messages are queued and sent in
   * order when it opens. Throws `CHANNEL_CLOSED` once the session is closed, and
   * `QUEUE_FULL` when more than 256 messages or 1 MiB are waiting.
   */
  send(data: ChannelData): void {
    if (this.state === 'closed') throw new StreamingClientError('CHANNEL_CLOSED', 'the session is closed');
    if (this.channel?.readyState === 'open' && this.outbox.length === 0) return this.sendNow(this.channel, data);
    const bytes = typeof data === 'string' ? data.length * 3 : data.byteLength;
    if (this.outbox.length >= MAX_QUEUED_MESSAGES || this.outboxBytes + bytes > MAX_QUEUED_BYTES) {
      throw new StreamingClientError('QUEUE_FULL', 'too much queued while the data channel is not open');
    }
    this.outbox.push(data);
    this.outboxBytes += bytes;
  }

  /** Ends the session on the server and here. Resolves when the server confirmed (or could not be asked). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    try {
      if (this.id && this.state !== 'reconnecting' && this.client.socket.connected) {
        await this.client.request('session:close', { sessionId: this.id });
      }
    } catch (err) {
      // The session is closed here either way; a server that did not answer closes it when
      // the socket goes (or on its ICE timeout).
      console.warn('session:close not confirmed', err);
    } finally {
      this.markClosed('client-closed');
    }
  }

  /**
   * Receive statistics: a summary (resolution, frame rate, bitrate, round-trip time, packet
   * loss, jitter-buffer delay) and the browser's raw report. Rates are measured since the
   * previous call on this session (call it periodically, e.g. once a second).
   */
  async getStats(): Promise<ViewerStats> {
    const { stats, baseline } = summarizeStats(await this.pc.getStats(), this.statsBaseline);
    if (baseline) this.statsBaseline = baseline;
    return stats;
  }

  /**
   * Starts playback in the video element: for a page whose autoplay was refused
   * (`autoplay-blocked`), call this from a user gesture.
   */
  async play(): Promise<void> {
    const video = this.opts.video;
    if (!video) return;
    await video.play();
    this.playBlocked = false;
  }

  /** Restarts ICE on the current connection (the client does it by itself when the connection drops). */
  restartIce(): Promise<void> {
    return this.iceRestart('manual');
  }

  private async negotiate(offerer: 'client' | 'server'): Promise<string> {
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

  /** The server is gone (or going), or the network path is: drop the connection, restart when possible. */
  private lost(reason: string): void {
    if (this.state === 'closed' || this.state === 'reconnecting') return;
    if (!this.client.reconnect) return this.markClosed(reason);
    this.clearIceTimer();
    this.channel?.close();
    this.pc.close();
    this.client.forget(this.id, this.control);
    this.setState('reconnecting', reason);
    void this.restartLoop();
  }

  private socketUp(): void {
    if (this.state !== 'reconnecting') return;
    if (this.wake) this.wake();
    else void this.restartLoop();
  }

  /** Restarts a lost session with backoff: a new peer connection and server session, same options. */
  private async restartLoop(): Promise<void> {
    const r = this.client.reconnect!;
    if (this.restarting) return;
    this.restarting = true;
    try {
      while (this.state === 'reconnecting') {
        if (this.attempts >= r.maxAttempts) return this.markClosed('reconnect-failed');
        const delay = this.attempts === 0 ? 0 : Math.min(r.baseDelayMs * 2 ** (this.attempts - 1), r.maxDelayMs) * (0.75 + Math.random() / 2);
        this.attempts++;
        this.reconnectInfo = { attempt: this.attempts, maxAttempts: r.maxAttempts, retryAt: Date.now() + Math.round(delay), reason: this.reason ?? 'lost' };
        const { attempt, maxAttempts, retryAt, reason } = this.reconnectInfo;
        this.dispatchEvent(new ReconnectEvent(attempt, maxAttempts, retryAt, reason));
        // A node that shuts down closes its sessions before its sockets: wait for the socket
        // to come back (or the attempt's time), whichever is first.
        if (delay || !this.client.socket.connected) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay || r.baseDelayMs);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
        }
        if (this.state !== 'reconnecting') return;
        if (!this.client.socket.connected) continue; // this attempt failed: no signalling
        try {
          const id = await this.renew();
          if (this.state !== 'reconnecting') return; // closed meanwhile
          this.attempts = 0;
          this.reconnectInfo = undefined;
          this.client.register(id, this.control);
          return;
        } catch (err) {
          console.warn('session restart failed', err);
        }
      }
    } finally {
      this.restarting = false;
      this.wake = undefined;
    }
  }

  /** A new peer connection and a new server session, with the same options. */
  private async renew(): Promise<string> {
    this.pc.close();
    this.newPeer();
    this.id = '';
    this.remoteQueue = [];
    this.localQueue = [];
    this.remoteSet = false;
    this.localPassed = false;
    this.channel = undefined;
    this.statsBaseline = undefined;
    this.chain = Promise.resolve();
    try {
      return await this.negotiate(this.opts.offerer ?? 'client');
    } catch (err) {
      this.pc.close();
      throw err;
    }
  }

  /**
   * `disconnected` often heals by itself (consent checks resume): restart ICE only when it
   * lasts. `failed` restarts ICE at once. A restart that does not bring the connection back
   * in time restarts the whole session.
   */
  private onConnectionState(s: RTCPeerConnectionState): void {
    if (this.state === 'closed' || this.state === 'reconnecting') return;
    const after = this.client.options.iceRestartAfterMs ?? 2_000;
    if (s === 'connected') {
      this.clearIceTimer();
      this.iceRestarting = false;
    } else if (s === 'disconnected' && after !== false && !this.iceTimer && !this.iceRestarting) {
      this.iceTimer = setTimeout(() => {
        this.iceTimer = undefined;
        if (this.pc.connectionState === 'disconnected') void this.iceRestart('disconnected');
      }, after);
    } else if (s === 'failed') {
      this.clearIceTimer();
      if (after === false || this.iceRestarting) this.lost('ice-failed');
      else void this.iceRestart('failed');
    }
  }

  private async iceRestart(trigger: IceRestartEvent['trigger']): Promise<void> {
    if (this.state === 'closed' || this.state === 'reconnecting' || !this.id) return;
    this.iceRestarting = true;
    this.dispatchEvent(new IceRestartEvent(trigger));
    const pc = this.pc;
    try {
      await this.offerChange(() => {
        pc.restartIce();
        return true;
      });
    } catch (err) {
      console.warn('ICE restart refused', err);
      if (this.pc === pc) this.lost('ice-failed');
      return;
    }
    this.clearIceTimer();
    this.iceTimer = setTimeout(() => {
      this.iceTimer = undefined;
      if (this.pc === pc && pc.connectionState !== 'connected') this.lost('ice-failed');
    }, ICE_RESTART_TIMEOUT_MS);
  }

  private clearIceTimer(): void {
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = undefined;
  }

  private onRemoteCandidate(e: SessionCandidateEvent): void {
    const c = e.candidate
      ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
      : null;
    if (!this.remoteSet) this.remoteQueue.push(c);
    else void this.addRemote(c);
  }

  /** A renegotiation the server started. */
  private onRemoteOffer(e: SessionOfferEvent): Promise<void> {
    return this.serial(() => this.answer(e.offer)).catch((err) => {
      console.warn('could not answer the server offer', err);
    });
  }

  private onServerState(e: SessionStateEvent): void {
    if (e.state === 'closed') {
      // A node that shuts down closes its sessions first: come back on another node.
      if (e.reason && RESTARTABLE.has(e.reason)) return this.lost(e.reason);
      return this.markClosed(e.reason ?? 'closed');
    }
    this.setState(e.state, e.reason);
  }

  private markClosed(reason: string): void {
    if (this.state === 'closed') return;
    this.clearIceTimer();
    this.wake?.();
    this.channel?.close();
    this.pc.close();
    this.outbox = [];
    this.outboxBytes = 0;
    this.reconnectInfo = undefined;
    this.client.release(this.control);
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
    ch.binaryType = 'arraybuffer';
    ch.onopen = () => {
      this.flushOutbox(ch);
      this.dispatchEvent(new Event('channel'));
    };
    ch.onclose = () => this.dispatchEvent(new Event('channel'));
    ch.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
      this.dispatchEvent(new MessageEvent('message', { data: e.data }));
    };
  }

  private flushOutbox(ch: RTCDataChannel): void {
    for (const data of this.outbox.splice(0)) this.sendNow(ch, data);
    this.outboxBytes = 0;
  }

  private sendNow(ch: RTCDataChannel, data: ChannelData): void {
    // RTCDataChannel.send is overloaded per type; each branch picks one.
    if (typeof data === 'string') ch.send(data);
    else if (data instanceof ArrayBuffer) ch.send(data);
    else ch.send(new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength));
  }

  /** Sets the stream on the video element and plays it; an autoplay refusal is reported, not thrown. */
  private attachVideo(): void {
    const video = this.opts.video;
    if (!video || !this.stream) return;
    video.srcObject = this.stream;
    video.play().then(
      () => (this.playBlocked = false),
      (err: unknown) => {
        // AbortError: a newer stream replaced this one before it played (a resume).
        if ((err as { name?: string })?.name === 'AbortError') return;
        this.playBlocked = true;
        this.dispatchEvent(new AutoplayBlockedEvent(err));
      },
    );
  }
}

type SessionListener<K extends keyof ViewerSessionEventMap> = (this: ViewerSession, ev: ViewerSessionEventMap[K]) => unknown;

// Typed events: `session.addEventListener('message', (e) => e.data)` knows `e` is a MessageEvent.
export interface ViewerSession {
  addEventListener<K extends keyof ViewerSessionEventMap>(type: K, listener: SessionListener<K>, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof ViewerSessionEventMap>(type: K, listener: SessionListener<K>, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** The BUNDLE tag (the first mid of the negotiated BUNDLE group), if any. */
function bundleTag(pc: RTCPeerConnection): string | undefined {
  return /^a=group:BUNDLE (\S+)/m.exec(pc.currentRemoteDescription?.sdp ?? '')?.[1];
}
