import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
// First: werift's fixes apply before any RTCPeerConnection exists.
import '../werift';
import type { RTCIceCandidate, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { StreamingError } from '../common/streaming-error';
import type { MediaSource, PictureLossOutcome, SourceState } from '../media/media-source';
import { DATA_CHANNEL_LABEL, ErrorCode, IceCandidateInit, MediaKind, SessionDescriptionAnswer, SessionDescriptionOffer, SessionState } from '../protocol';
import { codecForOffer } from '../media/codecs';
import type { LeanSenderStats } from '../media/fanout/lean-sender';
import * as sdp from '../sdp/sdp';
import { SessionDataChannel } from './data-channel';
import { safeCallbacks, SessionCloseReason, StateNotice, VideoOffReason } from './end-causes';
import { Negotiation } from './negotiation';
import { watchPeerSilence } from './peer-silence';
import { createPeerConnection, fromCandidateInit, preferDtlsServer, toCandidateInit } from './peer-connection';
import type { SessionCallbacks } from './session-callbacks';
import { SessionOptions } from './session.options';
import { SessionAudio } from './session-audio';
import { SessionResources } from './session-resources';
import { SessionVideo } from './session-video';
import { offReason, wantsVideo } from './video-slot';

export { pingReply } from './data-channel';

export type { SessionCallbacks } from './session-callbacks';

/**
 * One viewer: a werift peer connection with a sendonly video transceiver fed by a media
 * source, and a data channel. Build it with `Session.create()`; end it with `close()`,
 * which every exit calls and which is idempotent. The parts: `Negotiation` (the SDP exchange
 * and its queue), `VideoSlot` (the video's state and its transitions, video-slot.ts),
 * `startFeed` (the source into the sender), `SessionDataChannel`, and src/sdp for reading SDP.
 */
export class Session {
  private readonly log: Logger;
  private readonly callbacks: SessionCallbacks;
  /** Subscriptions, listeners and timers, released by close(). */
  private readonly held: SessionResources;
  private readonly negotiation: Negotiation;
  private readonly channel: SessionDataChannel;
  /** The video: its state (off, on its way, live, parked) and what each change takes. */
  private readonly video: SessionVideo;
  /** The audio, for a source that has it (see session-audio.ts); idle otherwise. */
  private readonly audio: SessionAudio;
  private disconnectTimer?: NodeJS.Timeout;
  private _state: SessionState = 'connecting';
  private _closed = false;
  /**
   * Whether the client takes server offers. A WHEP viewer does not (WHEP has no signalling
   * from server to client): stop-video then only stops sending on the same m-line, and a
   * resume starts again on it (werift keeps the RTP continuous), with the cached keyframe.
   */
  renegotiation = true;
  /** The viewer's picture-loss requests (PLI) and what each led to. */
  readonly pictureLoss: Record<PictureLossOutcome, number> = { source: 0, replay: 0, limited: 0, ended: 0 };

  private constructor(
    readonly id: string,
    readonly ownerId: string,
    readonly source: MediaSource,
    private readonly pc: RTCPeerConnection,
    private readonly options: SessionOptions,
    callbacks: SessionCallbacks,
  ) {
    this.log = new Logger(`Session ${id.slice(0, 8)}`);
    this.held = new SessionResources(this.log);
    // A listener that throws is logged; it never stops a negotiation or a teardown.
    this.callbacks = safeCallbacks(callbacks, this.log);
    this.negotiation = new Negotiation(pc, options.negotiationTimeoutMs, {
      isClosed: () => this._closed,
      log: this.log,
      offer: (offer) => this.callbacks.offer(offer),
      failed: () => this.close('negotiation-failed'),
      after: (ms, fn) => this.held.after(ms, fn),
      clearTimer: (t) => this.held.clearTimer(t),
    });
    // One MediaStream for the video and the audio: the browser lip-syncs the tracks of a stream.
    const streamId = randomUUID();
    this.audio = new SessionAudio(pc, source, this.negotiation, {
      log: this.log,
      sendPath: options.sendPath,
      streamId,
      isClosed: () => this._closed,
      renegotiates: () => this.renegotiation,
    });
    this.video = new SessionVideo(pc, source, this.negotiation, {
      streamId: source.hasAudio ? streamId : undefined,
      audio: this.audio,
      log: this.log,
      sendPath: options.sendPath,
      pictureLoss: this.pictureLoss,
      isClosed: () => this._closed,
      renegotiates: () => this.renegotiation,
      setState: (state, reason) => this.setState(state, reason),
      reportState: (reason) => this.reportState(reason),
    });
    this.channel = new SessionDataChannel({
      message: (data) => this.callbacks.message(data),
      binary: (data) => this.callbacks.binary?.(data),
      ping: options.dataChannelPing,
    });
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

  /** The lean send path's counters of the last feed (undefined on werift's path). */
  get leanStats(): LeanSenderStats | undefined {
    return this.video.lastSink?.lean?.stats;
  }

  /** The lean send path's counters of the last audio feed (undefined on werift's path or without audio). */
  get leanAudioStats(): LeanSenderStats | undefined {
    return this.audio.lastSink?.lean?.stats;
  }

  /** The audio: `none` (the source or the client has none), `live`, or `stopped`. */
  get audioStatus(): 'none' | 'live' | 'stopped' {
    return this.audio.status;
  }

  static create(args: {
    id: string;
    ownerId: string;
    source: MediaSource;
    options: SessionOptions;
    callbacks: SessionCallbacks;
    /** The video codec to negotiate (default: the source's; see `codecForOffer`). */
    codec?: RTCRtpCodecParameters;
  }): Session {
    const pc = createPeerConnection(args.options, args.codec ?? args.source.codecParameters(), args.source.audioCodecParameters());
    const session = new Session(args.id, args.ownerId, args.source, pc, args.options, args.callbacks);
    session.wire();
    return session;
  }

  private wire(): void {
    this.held.on(this.pc.onIceCandidate.subscribe((c) => this.emitLocalCandidate(c)));
    this.held.on(this.pc.connectionStateChange.subscribe((s) => this.onConnectionState(s)));
    this.held.on(
      this.pc.onDataChannel.subscribe((ch) => {
        const detach = this.channel.attach(ch);
        if (detach) this.held.add(detach);
      }),
    );
    // The source's health goes to the viewer: offline, and back online.
    const onSourceState = (state: SourceState, previous: SourceState) => this.onSourceState(state, previous);
    this.source.events.on('state', onSourceState);
    this.held.add(() => this.source.events.off('state', onSourceState));
    this.held.after(this.options.connectTimeoutMs, () => {
      if (this.pc.connectionState !== 'connected') this.close('connect-timeout');
    });
    // A viewer whose network went silent (no RTCP, no consent check) is released.
    this.held.add(
      watchPeerSilence(this.pc, {
        silenceMs: this.options.peerSilenceMs,
        streaming: () => this._state === 'streaming',
        onSilent: () => this.close('peer-silent'),
      }),
    );
  }

  /**
   * The client offered. With a recvonly video m-line (and usually a data channel), we
   * answer with sendonly video at once. With only a data channel (what the client library
   * sends to browsers), we answer and then add the video in a second negotiation, so the
   * data channel's m-line owns the BUNDLE transport: Chromium replaces the whole transport,
   * data channel included, when the BUNDLE-tag m-line is stopped.
   */
  async answerOffer(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    await this.negotiation.applyRemote(offer);
    preferDtlsServer(this.pc);
    const video = this.pc.getTransceivers().find((t) => t.kind === 'video' && !t.stopped);
    const audio = this.pc.getTransceivers().find((t) => t.kind === 'audio' && !t.stopped);
    if (video && !codecForOffer(this.source.codec, this.source.codecParameters(), offer.sdp) && sdp.hasDataChannel(offer.sdp)) {
      // The offer's video cannot receive the source's codec (let through for the data
      // channel's sake, see sessionCodec): data-only, the audio as offered. Not werift's
      // negotiated codecs: it pairs H.264 of any profile.
      this.audio.addable = false;
      if (audio) await this.audio.sendOn(audio);
      this.video.rejectForCodec(video);
    } else if (video) {
      // The client's offer says whether it wants audio (an audio m-line), the server adds none.
      this.audio.addable = false;
      if (audio) await this.audio.sendOn(audio);
      await this.video.sendOn(video);
    } else if (sdp.hasDataChannel(offer.sdp)) {
      this.video.scheduleVideo();
    } else {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offer has neither a video m-line nor a data channel');
    }
    const answer = (await this.negotiation.createLocal('answer')) as SessionDescriptionAnswer;
    return answer;
  }

  /**
   * The server offers the data channel first; the video follows in a second negotiation
   * as soon as the client has answered (see answerOffer for why).
   */
  async createOffer(): Promise<SessionDescriptionOffer> {
    const detach = this.channel.attach(this.pc.createDataChannel(DATA_CHANNEL_LABEL));
    if (detach) this.held.add(detach);
    this.video.slot = { kind: 'adding' };
    return this.negotiation.createLocal('offer') as Promise<SessionDescriptionOffer>;
  }

  async acceptAnswer(answer: SessionDescriptionAnswer): Promise<void> {
    // A renegotiation's answer: the operation that offered applies it and reports.
    if (this.negotiation.takeAnswer(answer)) return;
    await this.negotiation.applyRemote(answer);
    if (this.video.slot.kind === 'adding') this.video.scheduleVideo();
  }

  /**
   * Stops the media and keeps the data channel: ends the viewer's feeds and tracks, and
   * renegotiates (the video m-line is rejected, or parked inactive when it is the BUNDLE tag,
   * see stopPlan; the audio m-line is parked). Without `kind` the video and the audio stop
   * (in one offer); with `kind`, only that one. Used for `session:stop-video`, and when the
   * source ends. Idempotent.
   */
  async stopVideo(reason: VideoOffReason = 'video-stopped', kind?: MediaKind): Promise<void> {
    if (kind === 'audio') return this.audio.stop();
    await this.video.stopVideo(reason, kind === undefined);
    // The video was off already: the audio may still be on.
    if (kind === undefined) await this.audio.stop();
  }

  /**
   * Brings the media back (the video's cached keyframe at once). Without `kind` the video and
   * the audio (in one offer); with `kind`, only that one. Idempotent.
   */
  async resumeVideo(kind?: MediaKind): Promise<void> {
    if (kind === 'audio') return this.audio.resume(true);
    await this.video.resumeVideo(kind === undefined);
    if (kind === undefined) await this.audio.resume();
  }

  /** An offer from the client after the session started (for example, it stopped its video). */
  async answerRenegotiation(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    // The server is the impolite peer of "perfect negotiation": while its own offer is
    // out, a client offer is refused, and the client rolls back and answers ours.
    if (this.pc.signalingState !== 'stable' || this.negotiation.awaiting) {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress; retry after it');
    }
    return this.negotiation.serial(async () => {
      if (this.pc.signalingState !== 'stable') {
        throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress; retry after it');
      }
      await this.negotiation.applyRemote(offer);
      this.video.adoptRemoteVideo();
      const desc = await this.pc.createAnswer();
      await this.pc.setLocalDescription(desc);
      this.video.refreshState(wantsVideo(this.video.slot) ? 'video-resumed' : 'video-stopped');
      this.audio.settle();
      return { type: 'answer', sdp: this.pc.localDescription?.sdp ?? desc.sdp } as SessionDescriptionAnswer;
    });
  }

  async addRemoteCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (this._closed) throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'the session is closed');
    try {
      if (!candidate || candidate.candidate === '') {
        // Not passed on: werift gives up on ICE at once when the end of candidates
        // arrives before any pair exists (a browser whose candidates were all filtered
        // or unusable), though the browser's own checks would still have connected us.
        // The connect timeout bounds the wait instead.
        return;
      }
      await this.pc.addIceCandidate(fromCandidateInit(candidate));
    } catch (err) {
      // werift's message may quote the candidate: logged, never sent back.
      this.log.debug(`candidate rejected: ${(err as Error).message}`);
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the candidate was rejected');
    }
  }

  /** Sends a text (or binary) message on the data channel; false when it is not open. */
  send(data: string | Buffer): boolean {
    return this.channel.send(data);
  }

  /** Ends the session and releases everything it holds. Safe to call any number of times. */
  close(reason: SessionCloseReason): void {
    if (this._closed) return;
    this._closed = true;
    this.negotiation.close();
    this.held.release();
    this.video.close();
    this.audio.close();
    // werift's close() is async; the session is already unreachable, so only log failures.
    this.pc.close().catch((err: Error) => this.log.warn(`close: ${err.message}`));
    this.setState('closed', reason);
    this.callbacks.closed(reason);
  }

  // --- internals ---------------------------------------------------------------------

  private emitLocalCandidate(c: RTCIceCandidate | undefined): void {
    if (this._closed) return;
    if (!c) {
      this.callbacks.candidate(null);
      return;
    }
    this.callbacks.candidate(toCandidateInit(c));
  }

  private onConnectionState(state: RTCPeerConnection['connectionState']): void {
    if (this._closed) return;
    this.log.debug(`connection ${state}`);
    if (state === 'connected') {
      if (this.disconnectTimer) this.held.clearTimer(this.disconnectTimer);
      this.disconnectTimer = undefined;
      this.video.refreshState(offReason(this.video.slot));
      this.audio.refresh();
    } else if (state === 'disconnected') {
      this.disconnectTimer ??= this.held.after(this.options.disconnectedGraceMs, () => this.close('ice-disconnected'));
    } else if (state === 'failed') {
      this.close('ice-failed');
    } else if (state === 'closed') {
      this.close('peer-closed');
    }
  }

  /** Tells the viewer that the source went offline or came back (the state itself is unchanged). */
  private onSourceState(state: SourceState, previous: SourceState): void {
    if (this._closed) return;
    if (state === 'offline') this.reportState('source-offline');
    else if (state === 'live' && previous === 'offline') this.reportState('source-online');
  }

  /** Re-sends the current state (after a failed renegotiation left it unchanged). */
  private reportState(reason: StateNotice): void {
    if (!this._closed) this.callbacks.state(this._state, reason);
  }

  private setState(state: SessionState, reason?: SessionCloseReason | VideoOffReason | StateNotice): void {
    if (this._state === state) return;
    if (this._state === 'closed') return;
    this._state = state;
    this.callbacks.state(state, reason);
  }
}
