import { Logger } from '@nestjs/common';
// First: werift's fixes apply before any RTCPeerConnection exists.
import { dtlsCertificates } from '../werift';
import {
  MediaStream,
  MediaStreamTrack,
  RTCIceCandidate,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpTransceiver,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from 'werift';
import { StreamingError } from '../common/streaming-error';
import type { MediaSource, PictureLossOutcome, SourceState } from '../media/media-source';
import {
  DATA_CHANNEL_LABEL,
  ErrorCode,
  IceCandidateInit,
  SessionDescriptionAnswer,
  SessionDescriptionOffer,
  SessionState,
} from '../protocol';
import type { FeedSink } from '../media/fanout/feed-sink';
import type { LeanSenderStats } from '../media/fanout/lean-sender';
import * as sdp from '../sdp/sdp';
import { SessionDataChannel } from './data-channel';
import { safeCallbacks, SessionCloseReason, StateNotice, VideoOffReason } from './end-causes';
import { Negotiation } from './negotiation';
import { watchPeerSilence } from './peer-silence';
import { SessionOptions, weriftIceConfig } from './session.options';
import { SenderReadyWait, senderReady, startFeed, VideoFeed } from './video-feed';
import { afterFailedResume, isLive, offReason, remoteOfferPlan, resumePlan, stopPlan, VideoSlot, wantsVideo } from './video-slot';

export { pingReply } from './data-channel';

/** What a session tells the outside world; the service turns these into events. */
export interface SessionCallbacks {
  candidate(candidate: IceCandidateInit | null): void;
  /** A renegotiation the server starts: the client must reply with an answer. */
  offer(offer: SessionDescriptionOffer): void;
  state(state: SessionState, reason?: SessionCloseReason | VideoOffReason | StateNotice): void;
  message(data: string): void;
  /** A binary data-channel message (optional: a caller without it ignores binary). */
  binary?(data: Buffer): void;
  closed(reason: SessionCloseReason): void;
}

type Disposer = () => void;

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
  private readonly disposers: Disposer[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly negotiation: Negotiation;
  private readonly channel: SessionDataChannel;
  private readonly readyWait = new SenderReadyWait();
  /** The video: off, on its way, live, or parked (see video-slot.ts). */
  private slot: VideoSlot = { kind: 'adding' };
  /** The last feed's send path, kept after it ends for its counters (leanStats). */
  private lastSink?: FeedSink;
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
    // A listener that throws is logged; it never stops a negotiation or a teardown.
    this.callbacks = safeCallbacks(callbacks, this.log);
    this.negotiation = new Negotiation(pc, options.negotiationTimeoutMs, {
      isClosed: () => this._closed,
      log: this.log,
      offer: (offer) => this.callbacks.offer(offer),
      failed: () => this.close('negotiation-failed'),
      after: (ms, fn) => this.after(ms, fn),
      clearTimer: (t) => this.clearTimer(t),
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
    return this.lastSink?.lean?.stats;
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
    // The process's certificate (its fingerprint is in every answer), not one per session.
    const certificate = dtlsCertificates.get(args.options.certificateRotationMs);
    const pc = new RTCPeerConnection({
      ...weriftIceConfig(args.options),
      ...(certificate ? { dtls: {}, certificates: [certificate as never] } : {}),
      codecs: { audio: [], video: [args.codec ?? args.source.codecParameters()] },
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
    this.on(
      this.pc.onDataChannel.subscribe((ch) => {
        const detach = this.channel.attach(ch);
        if (detach) this.disposers.push(detach);
      }),
    );
    // The source's health goes to the viewer: offline, and back online.
    const onSourceState = (state: SourceState, previous: SourceState) => this.onSourceState(state, previous);
    this.source.events.on('state', onSourceState);
    this.disposers.push(() => this.source.events.off('state', onSourceState));
    this.after(this.options.connectTimeoutMs, () => {
      if (this.pc.connectionState !== 'connected') this.close('connect-timeout');
    });
    // A viewer whose network went silent (no RTCP, no consent check) is released.
    this.disposers.push(
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
    this.preferDtlsServer();
    const video = this.pc.getTransceivers().find((t) => t.kind === 'video' && !t.stopped);
    if (video) {
      const track = this.newTrack();
      await video.sender.replaceTrack(track);
      video.sender.setStreams([new MediaStream([track])]);
      video.setDirection('sendonly');
      this.slot = { kind: 'live', transceiver: video, track };
    } else if (sdp.hasDataChannel(offer.sdp)) {
      this.scheduleVideo();
    } else {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offer has neither a video m-line nor a data channel');
    }
    return this.negotiation.createLocal('answer') as Promise<SessionDescriptionAnswer>;
  }

  /**
   * When the client offered `a=setup:actpass`, answer `passive`: the browser then starts
   * the DTLS handshake the moment ICE connects, whereas werift as DTLS client waits a
   * fixed 100 ms first. Worth about 100 ms of time to first frame.
   */
  private preferDtlsServer(): void {
    for (const t of this.pc.dtlsTransports) {
      if (t.role === 'auto' && t.state === 'new') t.role = 'server';
    }
  }

  /**
   * The server offers the data channel first; the video follows in a second negotiation
   * as soon as the client has answered (see answerOffer for why).
   */
  async createOffer(): Promise<SessionDescriptionOffer> {
    const detach = this.channel.attach(this.pc.createDataChannel(DATA_CHANNEL_LABEL));
    if (detach) this.disposers.push(detach);
    this.slot = { kind: 'adding' };
    return this.negotiation.createLocal('offer') as Promise<SessionDescriptionOffer>;
  }

  async acceptAnswer(answer: SessionDescriptionAnswer): Promise<void> {
    // A renegotiation's answer: the operation that offered applies it and reports.
    if (this.negotiation.takeAnswer(answer)) return;
    await this.negotiation.applyRemote(answer);
    if (this.slot.kind === 'adding') this.scheduleVideo();
  }

  /**
   * Stops the video and keeps the data channel: ends the viewer's feed and track, and
   * renegotiates: the video m-line is rejected, or parked `inactive` when it is the BUNDLE
   * tag (see stopPlan). Used for `session:stop-video`, and when the source ends. Idempotent.
   */
  stopVideo(reason: VideoOffReason = 'video-stopped'): Promise<void> {
    return this.negotiation.serial(async () => {
      const plan = stopPlan(this.slot, reason, {
        renegotiation: this.renegotiation,
        ownsTransport: (t) => this.ownsTransport(t.mid),
      });
      if (!plan) return;
      const t = this.slot.kind === 'off' ? undefined : this.slot.transceiver;
      this.detachVideo();
      this.slot = plan.next;
      if (!this.renegotiation) return this.refreshState(reason);
      if (plan.mline === 'park') t!.setDirection('inactive');
      else if (plan.mline === 'stop') t!.stop();
      this.refreshState(reason);
      // The side that stopped must offer, or the m-line stays negotiated.
      try {
        await this.negotiation.renegotiate();
      } catch (err) {
        this.reportState('negotiation-failed');
        throw err;
      }
      this.refreshState(reason);
    });
  }

  /**
   * Brings the video back, then the source's cached keyframe at once: a parked (inactive)
   * video m-line is turned back to sendonly; otherwise a new sendonly transceiver on a new
   * m-line. Idempotent.
   */
  resumeVideo(): Promise<void> {
    return this.negotiation.serial(() => this.addVideo('video-resumed'));
  }

  /** Adds the session's video in a negotiation of its own, right after the current one. */
  private scheduleVideo(): void {
    this.slot = { kind: 'adding' };
    this.negotiation.serial(() => this.addVideo(undefined)).catch((err: Error) => {
      this.log.warn(`adding the video failed: ${err.message}`);
    });
  }

  private async addVideo(reason: 'video-resumed' | undefined): Promise<void> {
    const before = this.slot;
    const plan = resumePlan(before, { renegotiation: this.renegotiation, receives: (t) => this.remoteReceives(t.mid) });
    if (plan.do === 'nothing') return;
    if (this.source.ended) {
      if (plan.do === 'in-place') throw new StreamingError(ErrorCode.INVALID_STATE, 'the source has ended');
      return this.failResume(before, reason, new StreamingError(ErrorCode.INVALID_STATE, 'the source has ended'));
    }
    if (plan.do === 'in-place') {
      // Without renegotiation: a new track on the same sender (see `renegotiation`).
      const track = this.newTrack();
      await plan.transceiver.sender.replaceTrack(track);
      this.slot = { kind: 'live', transceiver: plan.transceiver, track };
      return this.refreshState(reason);
    }
    this.detachVideo();
    let transceiver: RTCRtpTransceiver;
    const track = this.newTrack();
    if (plan.reuse) {
      transceiver = plan.reuse as RTCRtpTransceiver;
      await this.unpark(transceiver, track);
    } else {
      transceiver = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [new MediaStream([track])] });
      // werift would put it on the stopped video m-line with a new mid; aiortc 1.4 then
      // gives the old, stopped transceiver the new mid too and never plays the new one.
      // A new m-line at the end (the stopped one stays at port 0) works for every peer.
      transceiver.mLineIndex = undefined;
    }
    this.slot = { kind: 'adding', transceiver, track };
    try {
      await this.negotiation.renegotiate();
      if (this.rejectedByRemote(transceiver.mid)) {
        throw new StreamingError(
          ErrorCode.CODEC_NOT_SUPPORTED,
          `the client cannot receive this source's codec (${this.source.codec}); it rejected the video`,
        );
      }
      if (plan.reuse && !this.remoteReceives(transceiver.mid)) {
        throw new StreamingError(
          ErrorCode.NEGOTIATION_FAILED,
          "the client answered the video inactive: set its video transceiver's direction to 'recvonly' first",
        );
      }
    } catch (err) {
      // Leave the session as it was: data-only, data channel untouched.
      this.detachVideo();
      if (plan.reuse) transceiver.setDirection('inactive');
      else if (!transceiver.stopping) transceiver.stop();
      return this.failResume(before, reason, err as Error);
    }
    this.slot = { kind: 'live', transceiver, track };
    this.refreshState(reason);
  }

  private failResume(before: VideoSlot, reason: 'video-resumed' | undefined, err: Error): never {
    const codec = err instanceof StreamingError && err.code === ErrorCode.CODEC_NOT_SUPPORTED;
    const why = codec ? 'codec-not-supported' : 'negotiation-failed';
    this.slot = afterFailedResume(before, codec);
    this.refreshState(reason ?? why);
    this.reportState(why);
    throw err;
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
      this.adoptRemoteVideo();
      const desc = await this.pc.createAnswer();
      await this.pc.setLocalDescription(desc);
      this.refreshState(wantsVideo(this.slot) ? 'video-resumed' : 'video-stopped');
      return { type: 'answer', sdp: this.pc.localDescription?.sdp ?? desc.sdp } as SessionDescriptionAnswer;
    });
  }

  /** Applies what the client's offer did to our video m-line (see remoteOfferPlan). */
  private adoptRemoteVideo(): void {
    const plan = remoteOfferPlan(this.slot, {
      rejected: (t) => this.rejectedByRemote(t.mid),
      receives: (t) => this.remoteReceives(t.mid),
      sourceEnded: this.source.ended,
      fresh: () =>
        this.pc.getTransceivers().find((t) => t.kind === 'video' && isLive(t) && !this.rejectedByRemote(t.mid)),
    });
    if (plan.detach) this.detachVideo();
    if (plan.next) this.slot = plan.next;
    plan.park?.setDirection('inactive');
    const on = plan.unpark ?? plan.adopt;
    if (!on) return;
    const track = this.newTrack();
    if (plan.unpark) void this.unpark(on, track);
    else {
      void on.sender.replaceTrack(track);
      on.sender.setStreams([new MediaStream([track])]);
      on.setDirection('sendonly');
    }
    this.slot = { kind: 'live', transceiver: on, track };
  }

  /**
   * Sends on a transceiver with a new track (the next local description says sendonly: the
   * direction is set before this returns its promise).
   */
  private unpark(t: RTCRtpTransceiver, track: MediaStreamTrack): Promise<void> {
    t.sender.setStreams([new MediaStream([track])]);
    t.setDirection('sendonly');
    return t.sender.replaceTrack(track);
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

  /** Sends a text (or binary) message on the data channel; false when it is not open. */
  send(data: string | Buffer): boolean {
    return this.channel.send(data);
  }

  /** Ends the session and releases everything it holds. Safe to call any number of times. */
  close(reason: SessionCloseReason): void {
    if (this._closed) return;
    this._closed = true;
    if (this.slot.kind === 'live') this.slot.feed?.stop('session-closed');
    this.negotiation.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const dispose of this.disposers.splice(0)) {
      try {
        dispose();
      } catch (err) {
        this.log.warn(`release: ${(err as Error).message}`);
      }
    }
    this.readyWait.dispose();
    this.detachVideo();
    // werift's close() is async; the session is already unreachable, so only log failures.
    this.pc.close().catch((err: Error) => this.log.warn(`close: ${err.message}`));
    this.setState('closed', reason);
    this.callbacks.closed(reason);
  }

  // --- internals ---------------------------------------------------------------------

  private newTrack(): MediaStreamTrack {
    return new MediaStreamTrack({ kind: 'video' });
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

  private onConnectionState(state: RTCPeerConnection['connectionState']): void {
    if (this._closed) return;
    this.log.debug(`connection ${state}`);
    if (state === 'connected') {
      if (this.disconnectTimer) this.clearTimer(this.disconnectTimer);
      this.disconnectTimer = undefined;
      this.refreshState(offReason(this.slot));
    } else if (state === 'disconnected') {
      this.disconnectTimer ??= this.after(this.options.disconnectedGraceMs, () => this.close('ice-disconnected'));
    } else if (state === 'failed') {
      this.close('ice-failed');
    } else if (state === 'closed') {
      this.close('peer-closed');
    }
  }

  /**
   * Whether the m-line with this mid owns the client's transport: it is the BUNDLE tag (the
   * first mid of the group) of the local or the remote description. Rejecting that m-line
   * makes browsers replace the transport, the data channel's SCTP association with it.
   */
  private ownsTransport(mid: string | null | undefined): boolean {
    if (mid == null) return false;
    return [this.pc.localDescription?.sdp, this.pc.remoteDescription?.sdp].some((d) => sdp.bundleTag(d) === mid);
  }

  /** Whether the remote description rejects (port 0) the m-line with this mid. */
  private rejectedByRemote(mid: string | null | undefined): boolean {
    return sdp.rejects(this.pc.remoteDescription?.sdp, mid);
  }

  /** Whether the remote description's m-line with this mid receives (recvonly or sendrecv, not rejected). */
  private remoteReceives(mid: string | null | undefined): boolean {
    return sdp.receives(this.pc.remoteDescription?.sdp, mid);
  }

  /** Ends the feed and the werift track of the current slot; the transceiver is the caller's business. */
  private detachVideo(): void {
    const s = this.slot;
    if (s.kind === 'live') {
      s.feed?.stop('video-stopped');
      s.feed = undefined;
    }
    if (s.kind === 'live' || s.kind === 'adding') s.track?.stop();
  }

  /**
   * Feeds the transceiver from the source once DTLS is up (werift drops RTP before that,
   * and the cached keyframe must not be lost), and reports streaming or data-only.
   */
  private refreshState(reason?: VideoOffReason | StateNotice): void {
    if (this._closed || this.pc.connectionState !== 'connected') return;
    const s = this.slot;
    if (s.kind === 'live' && isLive(s.transceiver) && !s.feed) {
      const transceiver = s.transceiver;
      // pc.connectionState can read `connected` before this sender's DTLS transport and
      // codec are ready; RTP written then is dropped, the cached keyframe with it.
      if (!senderReady(transceiver)) {
        this.readyWait.until(transceiver, () => {
          const now = this.slot;
          if (!this._closed && now.kind !== 'off' && now.transceiver === transceiver) this.refreshState(reason);
        });
        return;
      }
      const feed: VideoFeed = startFeed({
        source: this.source,
        sendPath: this.options.sendPath,
        transceiver,
        track: s.track,
        pictureLoss: this.pictureLoss,
        current: (f) => !this._closed && this.slot.kind === 'live' && this.slot.feed === f,
        // The source ending (a file played once, a shutdown) stops only the video.
        onSourceEnded: (why) => {
          if (this.slot.kind === 'live' && this.slot.feed === feed) this.slot.feed = undefined;
          void this.stopVideo(why).catch((err: Error) => this.log.warn(`stop after source end: ${err.message}`));
        },
      });
      s.feed = feed;
      this.lastSink = feed.sink;
    }
    const now = this.slot;
    const streaming = now.kind === 'live' && !!now.feed && !now.feed.ended;
    if (!streaming && now.kind === 'adding') return; // still connecting: the video is on its way
    const sourceOffline = this.source.currentState === 'offline' ? 'source-offline' : undefined;
    this.setState(streaming ? 'streaming' : 'data-only', streaming ? sourceOffline : reason);
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
