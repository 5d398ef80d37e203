import type { MediaKind, SessionStateEvent } from '../protocol/index.js';
import { bundleTag } from '../sdp/sdp.js';
import { AutoplayBlockedEvent, ChannelData, ClientLink, ReconnectEvent, ReconnectInfo, SessionControl, StartOptions, StreamingClientError, ViewerSessionEventMap, ViewerState } from './client-types.js';
import { CandidateRelay } from './candidates.js';
import { IceWatch } from './ice-watch.js';
import { Outbox, sendNow } from './outbox.js';
import { Negotiation } from './negotiation.js';
import { RESTARTABLE, Reconnector } from './reconnect.js';
import { playStream, wireChannel } from './media-element.js';
import { StatsBaseline, ViewerStats, summarizeStats } from './stats.js';


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
  /** Restarts the session when it was lost (none with `reconnect: false`). */
  private readonly reconnector?: Reconnector;
  /** Trickle ICE of the current peer connection. */
  private candidates!: CandidateRelay;
  /** Messages `send` queued until the data channel opens. */
  private readonly outbox = new Outbox();
  /** Offers and answers, one at a time. */
  private readonly negotiation: Negotiation;
  private statsBaseline?: StatsBaseline;
  private readonly ice: IceWatch;
  /**
   * `track` and `autoplay-blocked` come during the first negotiation (the answer carries the
   * video), before `start()` has returned the session and the page could listen: held, and
   * dispatched once the application has it.
   */
  private held?: Event[] = [];

  /** Made by `StreamingClient.start()`. */
  constructor(client: ClientLink, opts: StartOptions) {
    super();
    this.client = client;
    this.opts = opts;
    this.control = {
      session: this,
      negotiate: () => this.negotiation.start(),
      handedOut: () => {
        const held = this.held ?? [];
        this.held = undefined;
        // After the application's `await client.start()` continuation has run.
        if (held.length) setTimeout(() => held.forEach((ev) => this.dispatchEvent(ev)), 0);
      },
      lost: (reason) => this.lost(reason),
      socketUp: () => this.socketUp(),
      onCandidate: (e) => this.candidates.remote(e),
      onOffer: (e) => this.negotiation.onOffer(e.offer),
      onState: (e) => this.onServerState(e),
      markClosed: (reason) => this.markClosed(reason),
    };
    const session = this;
    this.negotiation = new Negotiation(client, opts, {
      get pc() {
        return session.pc;
      },
      get candidates() {
        return session.candidates;
      },
      get id() {
        return session.id;
      },
      get closed() {
        return session.state === 'closed';
      },
      setId: (id) => this.setId(id),
      attachChannel: (ch) => this.attachChannel(ch),
    });
    this.ice = new IceWatch(client.options.iceRestartAfterMs ?? 2_000, {
      get pc() {
        return session.pc;
      },
      canRestart: () => this.state !== 'closed' && this.state !== 'reconnecting' && !!this.id,
      offerChange: (change) => this.negotiation.change(change),
      lost: (reason) => this.lost(reason),
      announce: (ev) => this.dispatchEvent(ev),
    });
    if (client.reconnect) {
      this.reconnector = new Reconnector(client.reconnect, {
        reconnecting: () => this.state === 'reconnecting',
        socketConnected: () => this.client.socket.connected,
        reason: () => this.reason ?? 'lost',
        announce: (info) => {
          this.reconnectInfo = info;
          this.dispatchEvent(new ReconnectEvent(info.attempt, info.maxAttempts, info.retryAt, info.reason));
        },
        renew: () => this.renew(),
        restored: (id) => {
          this.reconnectInfo = undefined;
          this.client.register(id, this.control);
        },
        giveUp: () => this.markClosed('reconnect-failed'),
      });
    }
    client.bind(this.control);
    this.newPeer();
  }

  private newPeer(): void {
    const pc = (this.pc = new RTCPeerConnection(this.client.rtcConfiguration()));
    // Handlers of a peer connection a restart replaced must not touch the new one.
    const current = () => this.pc === pc;
    const session = this;
    const candidates = (this.candidates = new CandidateRelay(this.client, {
      pc,
      get id() {
        return session.id;
      },
      get closed() {
        return session.state === 'closed';
      },
    }));
    pc.onicecandidate = (e) => current() && candidates.local(e.candidate);
    pc.ontrack = (e) => {
      if (!current()) return;
      // A resumed video is a new transceiver with a new stream. The audio of a source with
      // sound comes in the video's stream (the server puts both in one, for lip sync), so the
      // video element plays it; an audio track in a stream of its own (another server) is
      // added to the current stream instead of replacing the picture.
      if (e.track.kind === 'audio' && this.stream && e.streams[0] !== this.stream) {
        if (!this.stream.getTracks().includes(e.track)) this.stream.addTrack(e.track);
      } else {
        this.stream = e.streams[0] ?? new MediaStream([e.track]);
      }
      this.attachVideo();
      this.dispatchHeld(new Event('track'));
    };
    pc.ondatachannel = (e) => current() && this.attachChannel(e.channel);
    pc.onconnectionstatechange = () => {
      if (current() && this.state !== 'closed' && this.state !== 'reconnecting') this.ice.onConnectionState(pc.connectionState);
    };
  }

  /**
   * Sends a data-channel message: text, or binary (an ArrayBuffer or a typed array). While
   * the channel is not open yet (just started, reconnecting) messages are queued and sent in
   * order when it opens. Throws `CHANNEL_CLOSED` once the session is closed, and
   * `QUEUE_FULL` when more than 256 messages or 1 MiB are waiting.
   */
  send(data: ChannelData): void {
    if (this.state === 'closed') throw new StreamingClientError('CHANNEL_CLOSED', 'the session is closed');
    if (this.channel?.readyState === 'open' && this.outbox.empty) return sendNow(this.channel, data);
    this.outbox.push(data);
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
    return this.ice.restart('manual');
  }

  /**
   * Asks the server to stop the media: the video and the audio, or only `kind`; the data
   * channel stays. Resolves when done.
   */
  async stopVideo(kind?: MediaKind): Promise<void> {
    await this.client.request('session:stop-video', { sessionId: this.id, ...(kind ? { kind } : {}) });
  }

  /** Whether the session receives audio now (a source with sound, its audio not stopped). */
  get hasAudio(): boolean {
    return this.pc
      .getTransceivers()
      .some((t) => t.receiver.track.kind === 'audio' && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv'));
  }

  /**
   * Stops the video from this side and offers; the data channel stays. The video
   * transceiver is stopped (its m-line goes to port 0), except when its m-line is the
   * BUNDLE tag: rejecting that one would make the browser replace its transport, the data
   * channel with it, so it is set `inactive` instead.
   */
  stopVideoLocally(): Promise<void> {
    return this.negotiation.change(() => {
      const t = this.videoTransceiver();
      if (!t || t.direction === 'inactive') return false;
      if (t.mid !== null && t.mid === bundleTag(this.pc.currentRemoteDescription?.sdp)) t.direction = 'inactive';
      else t.stop();
      return true;
    });
  }

  /** Asks the server to bring the media back (the video and the audio, or only `kind`). Resolves when the renegotiation is done. */
  async resumeVideo(kind?: MediaKind): Promise<void> {
    // After our own inactive stop: receive again, so that our answer to the server's offer does.
    const t = this.videoTransceiver();
    if (kind !== 'audio' && t?.direction === 'inactive') t.direction = 'recvonly';
    await this.client.request('session:resume-video', { sessionId: this.id, ...(kind ? { kind } : {}) });
  }

  /** The live video transceiver, if any. */
  videoTransceiver(): RTCRtpTransceiver | undefined {
    return this.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video' && t.currentDirection !== 'stopped' && t.direction !== 'stopped');
  }

  /** The server is gone (or going), or the network path is: drop the connection, restart when possible. */
  private lost(reason: string): void {
    if (this.state === 'closed' || this.state === 'reconnecting') return;
    if (!this.client.reconnect) return this.markClosed(reason);
    this.ice.clear();
    this.channel?.close();
    this.pc.close();
    this.client.forget(this.id, this.control);
    this.setState('reconnecting', reason);
    void this.reconnector?.run();
  }

  private socketUp(): void {
    if (this.state !== 'reconnecting') return;
    this.reconnector?.socketUp();
  }

  /** A new peer connection and a new server session, with the same options. */
  private async renew(): Promise<string> {
    this.pc.close();
    this.newPeer();
    this.id = '';
    this.channel = undefined;
    this.statsBaseline = undefined;
    this.negotiation.reset();
    try {
      return await this.negotiation.start();
    } catch (err) {
      this.pc.close();
      throw err;
    }
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
    this.ice.clear();
    this.reconnector?.wakeUp();
    this.channel?.close();
    this.pc.close();
    this.outbox.clear();
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
    this.candidates.idKnown();
  }

  private attachChannel(ch: RTCDataChannel): void {
    this.channel = ch;
    wireChannel(ch, this.outbox, (ev) => this.dispatchEvent(ev));
  }

  /** Sets the stream on the video element and plays it; an autoplay refusal is reported, not thrown. */
  private attachVideo(): void {
    const video = this.opts.video;
    if (!video || !this.stream) return;
    playStream(video, this.stream, (blocked, err) => {
      this.playBlocked = blocked;
      if (blocked) this.dispatchHeld(new AutoplayBlockedEvent(err));
    });
  }

  private dispatchHeld(ev: Event): void {
    if (this.held) this.held.push(ev);
    else this.dispatchEvent(ev);
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


