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
import { io } from 'socket.io-client';
import { Ack, ClientToServerEvents, ServerConfig } from '../protocol/index.js';
import {
  ClientLink,
  ClientSocket,
  ReconnectOptions,
  SessionControl,
  StartOptions,
  StreamingClientError,
  StreamingClientOptions,
} from './client-types.js';
import { ViewerSession } from './viewer-session.js';

export * from './client-types.js';
export { ViewerSession } from './viewer-session.js';

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
      // Early, so that start() finds it (its own call reports a failure).
      if (!this.serverConfig) this.loadServerConfig().catch(() => undefined);
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
      control.handedOut();
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

  private configLoad?: Promise<void>;

  /**
   * Fetches the server's client configuration once (an older server without `config:get`:
   * none). Asked as soon as the socket connects, so that `start()` does not wait a round
   * trip for it; a failed fetch is retried by the next `start()`, which reports it.
   */
  private loadServerConfig(): Promise<void> {
    if (this.options.rtcConfig || this.serverConfig) return Promise.resolve();
    this.configLoad ??= this.fetchServerConfig().catch((err: unknown) => {
      this.configLoad = undefined;
      throw err;
    });
    return this.configLoad;
  }

  private async fetchServerConfig(): Promise<void> {
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
