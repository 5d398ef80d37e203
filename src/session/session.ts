import { Logger } from '@nestjs/common';
import {
  MediaStream,
  MediaStreamTrack,
  RTCDataChannel,
  RTCIceCandidate,
  RTCPeerConnection,
  RTCRtpTransceiver,
  RTCSessionDescription,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from 'werift';
import { StreamingError } from '../common/streaming-error';
import type { MediaSource, MediaSubscription } from '../media/media-source';
import {
  DATA_CHANNEL_LABEL,
  ErrorCode,
  IceCandidateInit,
  SessionDescriptionAnswer,
  SessionDescriptionOffer,
  SessionState,
} from '../protocol';
import { SessionOptions, weriftIceConfig } from './session.options';

/** What a session tells the outside world; the service turns these into events. */
export interface SessionCallbacks {
  candidate(candidate: IceCandidateInit | null): void;
  state(state: SessionState, reason?: string): void;
  message(data: string): void;
  closed(reason: string): void;
}

type Disposer = () => void;

/**
 * One viewer: a werift peer connection with a sendonly video transceiver fed by a media
 * source, and a data channel. Build it with `Session.create()`; end it with `close()`,
 * which every exit calls and which is idempotent.
 */
export class Session {
  private readonly log: Logger;
  private readonly disposers: Disposer[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private subscription?: MediaSubscription;
  private track?: MediaStreamTrack;
  private transceiver?: RTCRtpTransceiver;
  private channel?: RTCDataChannel;
  private _state: SessionState = 'connecting';
  private _closed = false;

  private constructor(
    readonly id: string,
    readonly ownerId: string,
    readonly source: MediaSource,
    private readonly pc: RTCPeerConnection,
    private readonly options: SessionOptions,
    private readonly callbacks: SessionCallbacks,
  ) {
    this.log = new Logger(`Session ${id.slice(0, 8)}`);
  }

  get state(): SessionState {
    return this._state;
  }
  get closed(): boolean {
    return this._closed;
  }

  /** Server-side werift connection; exposed for tests and diagnostics. */
  get peerConnection(): RTCPeerConnection {
    return this.pc;
  }

  static create(args: {
    id: string;
    ownerId: string;
    source: MediaSource;
    options: SessionOptions;
    callbacks: SessionCallbacks;
  }): Session {
    const pc = new RTCPeerConnection({
      ...weriftIceConfig(args.options),
      codecs: { audio: [], video: [args.source.codecParameters()] },
      headerExtensions: {
        audio: [],
        // Give the browser's bandwidth estimator the data it needs.
        video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
      },
    });
    const session = new Session(args.id, args.ownerId, args.source, pc, args.options, args.callbacks);
    session.wire();
    return session;
  }

  private wire(): void {
    this.on(this.pc.onIceCandidate.subscribe((c) => this.emitLocalCandidate(c)));
    this.on(this.pc.connectionStateChange.subscribe((s) => this.onConnectionState(s)));
    this.on(this.pc.onDataChannel.subscribe((ch) => this.attachChannel(ch)));
    this.after(this.options.connectTimeoutMs, () => {
      if (this.pc.connectionState !== 'connected') this.close('connect-timeout');
    });
  }

  /** The client offered (recvonly video, data channel): answer with our sendonly video. */
  async answerOffer(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    await this.applyRemote(offer);
    const video = this.pc.getTransceivers().find((t) => t.kind === 'video' && !t.stopped);
    if (!video) {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offer has no video m-line to receive on');
    }
    this.track = this.newTrack();
    await video.sender.replaceTrack(this.track);
    video.sender.setStreams([new MediaStream([this.track])]);
    video.setDirection('sendonly');
    this.transceiver = video;
    return this.createLocal('answer') as Promise<SessionDescriptionAnswer>;
  }

  /** The server offers sendonly video and a data channel; the client answers later. */
  async createOffer(): Promise<SessionDescriptionOffer> {
    this.track = this.newTrack();
    this.transceiver = this.pc.addTransceiver(this.track, {
      direction: 'sendonly',
      streams: [new MediaStream([this.track])],
    });
    this.attachChannel(this.pc.createDataChannel(DATA_CHANNEL_LABEL));
    return this.createLocal('offer') as Promise<SessionDescriptionOffer>;
  }

  async acceptAnswer(answer: SessionDescriptionAnswer): Promise<void> {
    if (this.pc.signalingState !== 'have-local-offer') {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'no offer from the server is waiting for an answer');
    }
    await this.applyRemote(answer);
  }

  /** An offer from the client after the session started (for example, it stopped its video). */
  async answerRenegotiation(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    if (this.pc.signalingState !== 'stable') {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress');
    }
    await this.applyRemote(offer);
    const answer = (await this.createLocal('answer')) as SessionDescriptionAnswer;
    this.refreshMedia();
    return answer;
  }

  async addRemoteCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (this._closed) throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'the session is closed');
    try {
      if (!candidate || candidate.candidate === '') {
        await this.pc.addIceCandidate(null);
        return;
      }
      await this.pc.addIceCandidate({
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid ?? undefined,
        sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
        usernameFragment: candidate.usernameFragment ?? undefined,
      } as RTCIceCandidate);
    } catch (err) {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, `candidate rejected: ${(err as Error).message}`);
    }
  }

  /** Sends a text message on the data channel; false when it is not open. */
  send(text: string): boolean {
    if (this.channel?.readyState !== 'open') return false;
    this.channel.send(text);
    return true;
  }

  /** Ends the session and releases everything it holds. Safe to call any number of times. */
  close(reason: string): void {
    if (this._closed) return;
    this._closed = true;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const dispose of this.disposers.splice(0)) dispose();
    this.track?.stop();
    // werift's close() is async; the session is already unreachable, so only log failures.
    this.pc.close().catch((err: Error) => this.log.warn(`close: ${err.message}`));
    this.setState('closed', reason);
    this.callbacks.closed(reason);
  }

  // --- internals ---------------------------------------------------------------------

  private newTrack(): MediaStreamTrack {
    return new MediaStreamTrack({ kind: 'video' });
  }

  private async applyRemote(desc: SessionDescriptionOffer | SessionDescriptionAnswer): Promise<void> {
    try {
      await this.pc.setRemoteDescription(new RTCSessionDescription(desc.sdp, desc.type));
    } catch (err) {
      throw new StreamingError(
        ErrorCode.NEGOTIATION_FAILED,
        `the ${desc.type} could not be applied: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Creates the local description and returns it before applying it: werift's
   * setLocalDescription resolves only when gathering ends, and candidates trickle anyway.
   */
  private async createLocal(type: 'offer' | 'answer'): Promise<SessionDescriptionOffer | SessionDescriptionAnswer> {
    let desc: RTCSessionDescription;
    try {
      desc = type === 'offer' ? await this.pc.createOffer() : await this.pc.createAnswer();
    } catch (err) {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, `could not create an ${type}: ${(err as Error).message}`);
    }
    this.pc.setLocalDescription(desc).catch((err: Error) => {
      this.log.warn(`setLocalDescription(${type}) failed: ${err.message}`);
      this.close('negotiation-failed');
    });
    return { type, sdp: desc.sdp } as SessionDescriptionOffer | SessionDescriptionAnswer;
  }

  private emitLocalCandidate(c: RTCIceCandidate | undefined): void {
    if (this._closed) return;
    if (!c) {
      this.callbacks.candidate(null);
      return;
    }
    const json = c.toJSON();
    this.callbacks.candidate({
      candidate: json.candidate,
      sdpMid: json.sdpMid ?? null,
      sdpMLineIndex: json.sdpMLineIndex ?? null,
      usernameFragment: json.usernameFragment ?? null,
    });
  }

  private disconnectTimer?: NodeJS.Timeout;

  private onConnectionState(state: RTCPeerConnection['connectionState']): void {
    if (this._closed) return;
    this.log.debug(`connection ${state}`);
    if (state === 'connected') {
      if (this.disconnectTimer) this.clearTimer(this.disconnectTimer);
      this.disconnectTimer = undefined;
      this.startMedia();
    } else if (state === 'disconnected') {
      this.disconnectTimer ??= this.after(this.options.disconnectedGraceMs, () => this.close('ice-disconnected'));
    } else if (state === 'failed') {
      this.close('ice-failed');
    } else if (state === 'closed') {
      this.close('peer-closed');
    }
  }

  /** After a renegotiation: a stopped video transceiver means the session is data-only. */
  private refreshMedia(): void {
    if (this.transceiver?.stopped || this.transceiver?.currentDirection === 'inactive') {
      this.subscription?.unsubscribe();
      this.subscription = undefined;
      if (this.pc.connectionState === 'connected') this.setState('data-only', 'video-stopped');
    }
  }

  /** Subscribes the viewer to the source once DTLS is up, so the cached keyframe is not lost. */
  private startMedia(): void {
    if (!this.subscription && this.track && this.transceiver && !this.transceiver.stopped) {
      const track = this.track;
      this.subscription = this.source.subscribe((packet) => track.writeRtp(packet));
    }
    this.setState(this.subscription ? 'streaming' : 'data-only');
  }

  private attachChannel(channel: RTCDataChannel): void {
    if (this.channel) return; // one channel per session; later ones are ignored
    this.channel = channel;
    this.on(
      channel.onMessage.subscribe((data) => {
        if (typeof data !== 'string') return;
        this.callbacks.message(data);
        if (this.options.dataChannelPing) {
          const reply = pingReply(data);
          if (reply !== undefined) this.send(reply);
        }
      }),
    );
  }

  private setState(state: SessionState, reason?: string): void {
    if (this._state === state && state !== 'closed') return;
    if (this._state === 'closed') return;
    this._state = state;
    this.callbacks.state(state, reason);
  }

  private on(sub: { unSubscribe: () => void }): void {
    this.disposers.push(() => sub.unSubscribe());
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }
}

/** `ping` -> `pong`; `{"type":"ping","id":X}` -> `{"type":"pong","id":X}`; anything else: no reply. */
export function pingReply(text: string): string | undefined {
  if (text === 'ping') return 'pong';
  if (text.length > 4096 || !text.startsWith('{')) return undefined;
  try {
    const msg = JSON.parse(text) as { type?: unknown; id?: unknown };
    if (msg && typeof msg === 'object' && msg.type === 'ping') return JSON.stringify({ type: 'pong', id: msg.id });
  } catch {
    // Not JSON: not a ping.
  }
  return undefined;
}
