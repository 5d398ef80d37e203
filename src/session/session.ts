import { Logger } from '@nestjs/common';
// First: werift's fixes apply before any RTCPeerConnection exists.
import { dtlsCertificates } from '../werift';
import {
  MediaStream,
  MediaStreamTrack,
  RTCDataChannel,
  RTCIceCandidate,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpTransceiver,
  RTCSessionDescription,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
} from 'werift';
import { StreamingError } from '../common/streaming-error';
import type { MediaSource, PictureLossOutcome, SourceState, SourceTrack } from '../media/media-source';
import {
  DATA_CHANNEL_LABEL,
  ErrorCode,
  IceCandidateInit,
  SessionDescriptionAnswer,
  SessionDescriptionOffer,
  SessionState,
} from '../protocol';
import { createFeedSink, FeedSink } from '../media/fanout/feed-sink';
import type { LeanSenderStats } from '../media/fanout/lean-sender';
import { endedBySource, FeedEndCause, safeCallbacks, SessionCloseReason, StateNotice, VideoOffReason } from './end-causes';
import * as sdp from '../sdp/sdp';
import { watchPeerSilence } from './peer-silence';
import { SessionOptions, weriftIceConfig } from './session.options';

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
 * which every exit calls and which is idempotent.
 */
export class Session {
  private readonly log: Logger;
  private readonly callbacks: SessionCallbacks;
  private readonly disposers: Disposer[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The viewer's feed from the source while video is on. */
  private feed?: SourceTrack;
  /** The send path of the current feed (the lean sender or werift's track). */
  private feedSink?: FeedSink;
  private track?: MediaStreamTrack;
  /** Whether the session means to send video (false once stopped, until resumed). */
  private videoWanted = true;
  /** Why the video is off (reported with `data-only`). */
  private videoOffReason: VideoOffReason = 'video-stopped';
  /**
   * A video m-line is on its way (added in a negotiation of its own, at the start or on a
   * resume): the session is not data-only yet, and RTP written now would be dropped.
   */
  private videoPending = false;
  /**
   * The server parked the video m-line (set it inactive to stop the video, see stopVideo):
   * only a resume request turns it back on, not a client offer that merely still receives.
   */
  private parkedByServer = false;
  /** The SDP of the last offer we sent, to check answers against. */
  private lastOfferSdp?: string;
  /** Negotiations the server runs (stop, resume) go one at a time through this chain. */
  private chain: Promise<unknown> = Promise.resolve();
  /** The server's renegotiation offer that awaits the client's answer. */
  private awaitingAnswer?: { resolve: (a: SessionDescriptionAnswer) => void; reject: (e: Error) => void };
  private transceiver?: RTCRtpTransceiver;
  private channel?: RTCDataChannel;
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

  /** The lean send path's counters while it feeds the video (undefined on werift's path). */
  get leanStats(): LeanSenderStats | undefined {
    return this.feedSink?.lean?.stats;
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
    this.on(this.pc.onDataChannel.subscribe((ch) => this.attachChannel(ch)));
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
    await this.applyRemote(offer);
    this.preferDtlsServer();
    const video = this.pc.getTransceivers().find((t) => t.kind === 'video' && !t.stopped);
    if (video) {
      this.track = this.newTrack();
      await video.sender.replaceTrack(this.track);
      video.sender.setStreams([new MediaStream([this.track])]);
      video.setDirection('sendonly');
      this.transceiver = video;
    } else if (sdp.hasDataChannel(offer.sdp)) {
      this.scheduleVideo();
    } else {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the offer has neither a video m-line nor a data channel');
    }
    return this.createLocal('answer') as Promise<SessionDescriptionAnswer>;
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
    this.attachChannel(this.pc.createDataChannel(DATA_CHANNEL_LABEL));
    this.videoPending = true;
    return this.createLocal('offer') as Promise<SessionDescriptionOffer>;
  }

  async acceptAnswer(answer: SessionDescriptionAnswer): Promise<void> {
    if (this.pc.signalingState !== 'have-local-offer') {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'no offer from the server is waiting for an answer');
    }
    assertSameMediaCount(this.lastOfferSdp, answer.sdp);
    if (this.awaitingAnswer) {
      // A renegotiation: the operation that offered applies the answer and reports.
      const waiting = this.awaitingAnswer;
      this.awaitingAnswer = undefined;
      waiting.resolve(answer);
      return;
    }
    await this.applyRemote(answer);
    if (this.videoPending) this.scheduleVideo();
  }

  /**
   * Stops the video and keeps the data channel: ends the viewer's feed and track, and
   * renegotiates. When the video m-line is not the BUNDLE tag, the transceiver is stopped
   * (the offer rejects the m-line, port 0). When it is the tag (a client that offered video
   * and a data channel together: Chromium and Firefox put the data channel last), rejecting it would make Chromium and Firefox
   * build a new transport and lose the data channel: the m-line is kept and offered
   * `inactive` instead ("parked"), and a resume turns it back on. Used for
   * `session:stop-video`, and when the source ends. Idempotent.
   */
  stopVideo(reason: VideoOffReason = 'video-stopped'): Promise<void> {
    return this.serial(async () => {
      if (!this.videoWanted && !this.videoOn()) return;
      this.videoWanted = false;
      this.videoOffReason = reason;
      this.detachVideo();
      if (!this.renegotiation) return this.refreshState(reason);
      if (this.transceiverLive()) {
        if (this.ownsTransport(this.transceiver!.mid)) {
          this.transceiver!.setDirection('inactive');
          this.parkedByServer = true;
        } else this.transceiver!.stop();
      }
      this.refreshState(reason);
      // The side that stopped must offer, or the m-line stays negotiated.
      try {
        await this.renegotiate();
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
    return this.serial(() => this.addVideo('video-resumed'));
  }

  /** Adds the session's video in a negotiation of its own, right after the current one. */
  private scheduleVideo(): void {
    this.videoPending = true;
    this.serial(() => this.addVideo(undefined)).catch((err: Error) => {
      this.log.warn(`adding the video failed: ${err.message}`);
    });
  }

  private async addVideo(reason: 'video-resumed' | undefined): Promise<void> {
    if (!this.renegotiation && this.transceiverLive()) return this.resumeInPlace(reason);
    if (this.videoOn()) {
      this.videoPending = false;
      return;
    }
    this.videoPending = true;
    try {
      if (this.source.ended) throw new StreamingError(ErrorCode.INVALID_STATE, 'the source has ended');
      this.videoWanted = true;
      const parked = this.transceiverLive() ? this.transceiver! : undefined;
      const parkedByServer = this.parkedByServer;
      if (parked) await this.unpark(parked);
      else {
        this.track = this.newTrack();
        const added = this.pc.addTransceiver(this.track, {
          direction: 'sendonly',
          streams: [new MediaStream([this.track])],
        });
        // werift would put it on the stopped video m-line with a new mid; aiortc 1.4 then
        // gives the old, stopped transceiver the new mid too and never plays the new one.
        // A new m-line at the end (the stopped one stays at port 0) works for every peer.
        added.mLineIndex = undefined;
        this.transceiver = added;
      }
      const transceiver = this.transceiver!;
      try {
        await this.renegotiate();
        if (this.rejectedByRemote(transceiver.mid)) {
          throw new StreamingError(
            ErrorCode.CODEC_NOT_SUPPORTED,
            `the client cannot receive this source's codec (${this.source.codec}); it rejected the video`,
          );
        }
        if (parked && !this.remoteReceives(transceiver.mid)) {
          throw new StreamingError(
            ErrorCode.NEGOTIATION_FAILED,
            "the client answered the video inactive: set its video transceiver's direction to 'recvonly' first",
          );
        }
      } catch (err) {
        // Leave the session as it was: data-only, data channel untouched.
        this.videoWanted = false;
        this.detachVideo();
        if (parked) {
          transceiver.setDirection('inactive');
          this.parkedByServer = parkedByServer;
        } else if (!transceiver.stopping) transceiver.stop();
        throw err;
      }
    } catch (err) {
      this.videoPending = false;
      const why =
        err instanceof StreamingError && err.code === ErrorCode.CODEC_NOT_SUPPORTED ? 'codec-not-supported' : 'negotiation-failed';
      if (why === 'codec-not-supported') this.videoOffReason = why;
      this.refreshState(reason ?? why);
      this.reportState(why);
      throw err;
    }
    this.videoPending = false;
    this.refreshState(reason);
  }

  /** Resume without renegotiation: a new track on the same sender (see `renegotiation`). */
  private async resumeInPlace(reason: 'video-resumed' | undefined): Promise<void> {
    if (this.videoWanted) return;
    if (this.source.ended) throw new StreamingError(ErrorCode.INVALID_STATE, 'the source has ended');
    const track = this.newTrack();
    await this.transceiver!.sender.replaceTrack(track);
    this.track = track;
    this.videoWanted = true;
    this.refreshState(reason);
  }

  /** An offer from the client after the session started (for example, it stopped its video). */
  async answerRenegotiation(offer: SessionDescriptionOffer): Promise<SessionDescriptionAnswer> {
    // The server is the impolite peer of "perfect negotiation": while its own offer is
    // out, a client offer is refused, and the client rolls back and answers ours.
    if (this.pc.signalingState !== 'stable' || this.awaitingAnswer) {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress; retry after it');
    }
    return this.serial(async () => {
      if (this.pc.signalingState !== 'stable') {
        throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress; retry after it');
      }
      await this.applyRemote(offer);
      this.adoptRemoteVideo();
      const desc = await this.pc.createAnswer();
      await this.pc.setLocalDescription(desc);
      this.refreshState(this.videoWanted ? 'video-resumed' : 'video-stopped');
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
    if (this.channel?.readyState !== 'open') return false;
    this.channel.send(data);
    return true;
  }

  /** Ends the session and releases everything it holds. Safe to call any number of times. */
  close(reason: SessionCloseReason): void {
    if (this._closed) return;
    this._closed = true;
    this.feed?.stop('session-closed' satisfies FeedEndCause);
    this.feed = undefined;
    this.awaitingAnswer?.reject(new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'the session closed'));
    this.awaitingAnswer = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const dispose of this.disposers.splice(0)) {
      try {
        dispose();
      } catch (err) {
        this.log.warn(`release: ${(err as Error).message}`);
      }
    }
    this.readyWait?.dispose();
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
    if (type === 'offer') this.lastOfferSdp = desc.sdp;
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
      this.refreshState(this.videoWanted ? undefined : this.videoOffReason);
    } else if (state === 'disconnected') {
      this.disconnectTimer ??= this.after(this.options.disconnectedGraceMs, () => this.close('ice-disconnected'));
    } else if (state === 'failed') {
      this.close('ice-failed');
    } else if (state === 'closed') {
      this.close('peer-closed');
    }
  }

  private transceiverLive(): boolean {
    return !!this.transceiver && !this.transceiver.stopping && !this.transceiver.stopped;
  }

  /** Whether the video is on or on its way (not stopped, not parked). */
  private videoOn(): boolean {
    return this.transceiverLive() && (this.videoPending || !this.parked(this.transceiver!));
  }

  /** A live video m-line that carries nothing: we set it inactive, or the client's side does not receive. */
  private parked(t: RTCRtpTransceiver): boolean {
    return t.direction === 'inactive' || !this.remoteReceives(t.mid);
  }

  /**
   * Turns a parked video m-line back on with a new track (the next local description says
   * sendonly: the direction is set before this returns its promise).
   */
  private unpark(t: RTCRtpTransceiver): Promise<void> {
    this.parkedByServer = false;
    this.track = this.newTrack();
    t.sender.setStreams([new MediaStream([this.track])]);
    t.setDirection('sendonly');
    return t.sender.replaceTrack(this.track);
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

  /**
   * After the client's offer: it may have stopped our video m-line (port 0, as a browser
   * does after `transceiver.stop()`), set it inactive (what a client whose video is the
   * BUNDLE tag does to stop it), offered it receiving again after that, or offered a new
   * recvonly video m-line to resume.
   */
  private adoptRemoteVideo(): void {
    // werift commits a remote rejection only when the answer is set; read the offer.
    if (this.transceiver && (this.transceiver.stopping || this.transceiver.stopped || this.rejectedByRemote(this.transceiver.mid))) {
      this.videoWanted = false;
      this.detachVideo();
      this.transceiver = undefined;
    }
    const t = this.transceiverLive() ? this.transceiver! : undefined;
    if (t && !this.remoteReceives(t.mid)) {
      // The client parked the video: stop feeding it, answer inactive, keep the m-line.
      if (this.videoWanted) this.videoOffReason = 'video-stopped';
      this.videoWanted = false;
      this.parkedByServer = false; // its own stop: its own offer may resume it
      this.detachVideo();
      t.setDirection('inactive');
      return;
    }
    if (t && t.direction === 'inactive') {
      // A parked m-line the client receives on again: the client resumes its own stop. After
      // the server's stop the client's transceiver still says recvonly: that is no resume.
      if (this.source.ended || this.parkedByServer) return;
      void this.unpark(t);
      this.videoWanted = true;
      return;
    }
    if (this.transceiverLive() || this.source.ended) return;
    const fresh = this.pc
      .getTransceivers()
      .find((t) => t.kind === 'video' && !t.stopping && !t.stopped && !this.rejectedByRemote(t.mid));
    if (!fresh) return;
    this.track = this.newTrack();
    void fresh.sender.replaceTrack(this.track);
    fresh.sender.setStreams([new MediaStream([this.track])]);
    fresh.setDirection('sendonly');
    this.transceiver = fresh;
    this.videoWanted = true;
  }

  /** Whether the remote description rejects (port 0) the m-line with this mid. */
  private rejectedByRemote(mid: string | null | undefined): boolean {
    return sdp.rejects(this.pc.remoteDescription?.sdp, mid);
  }

  /** Whether the remote description's m-line with this mid receives (recvonly or sendrecv, not rejected). */
  private remoteReceives(mid: string | null | undefined): boolean {
    return sdp.receives(this.pc.remoteDescription?.sdp, mid);
  }

  /** Ends the feed and the werift track; the transceiver is the caller's business. */
  private detachVideo(): void {
    this.feed?.stop('video-stopped' satisfies FeedEndCause);
    this.feed = undefined;
    this.track?.stop();
    this.track = undefined;
  }

  /**
   * Feeds the transceiver from the source once DTLS is up (werift drops RTP before that,
   * and the cached keyframe must not be lost), and reports streaming or data-only.
   */
  private refreshState(reason?: VideoOffReason | StateNotice): void {
    if (this._closed || this.pc.connectionState !== 'connected') return;
    if (this.videoWanted && !this.videoPending && this.transceiverLive() && this.track && !this.feed) {
      // pc.connectionState can read `connected` before this sender's DTLS transport and
      // codec are ready; RTP written then is dropped, the cached keyframe with it.
      if (!senderReady(this.transceiver!)) {
        this.retryWhenSenderReady(reason);
        return;
      }
      const out = createFeedSink(this.options.sendPath, this.transceiver!.sender, this.track);
      const feed = this.source.subscribe(out.sink);
      this.feed = feed;
      this.feedSink = out;
      // A viewer's PLI: answered from the source's cache or passed to the source, rate-limited.
      const pli = this.transceiver!.sender.onPictureLossIndication.subscribe(() => {
        if (this._closed || this.feed !== feed) return;
        this.pictureLoss[this.source.pictureLoss(feed)]++;
      });
      // Every way the feed ends (stop, close, the source ending) drops the PLI listener.
      feed.once('ended', (why) => {
        out.close();
        pli.unSubscribe();
        // The source ending (a file played once, a shutdown) stops only the video.
        if (endedBySource(why)) {
          this.feed = undefined;
          void this.stopVideo(why).catch((err: Error) => this.log.warn(`stop after source end: ${err.message}`));
        }
      });
    }
    const streaming = !!this.feed && !this.feed.ended;
    if (!streaming && this.videoPending) return; // still connecting: the video is on its way
    const sourceOffline = this.source.currentState === 'offline' ? 'source-offline' : undefined;
    this.setState(streaming ? 'streaming' : 'data-only', streaming ? sourceOffline : reason);
  }

  private waitForStable(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const sub = this.pc.signalingStateChange.subscribe((s) => s === 'stable' && done());
      function done() {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  }

  /** Waits for the sender to become able to send (werift's onReady; see src/werift/fixes/sender-ready-event.ts). */
  private readyWait?: { transceiver: RTCRtpTransceiver; dispose: () => void };

  private retryWhenSenderReady(reason: VideoOffReason | StateNotice | undefined): void {
    const transceiver = this.transceiver;
    if (!transceiver || this.readyWait?.transceiver === transceiver) return;
    this.readyWait?.dispose();
    const sub = transceiver.sender.onReady.subscribe(() => {
      if (!senderReady(transceiver)) return;
      this.readyWait?.dispose();
      if (!this._closed && this.transceiver === transceiver) this.refreshState(reason);
    });
    this.readyWait = {
      transceiver,
      dispose: () => {
        sub.unSubscribe();
        if (this.readyWait?.transceiver === transceiver) this.readyWait = undefined;
      },
    };
  }

  /** Runs server-side negotiations one after another. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this._closed) throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'the session is closed');
      return op();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * The server offers (after a stop or a resume) and waits for the client's answer. On
   * timeout or failure the offer is rolled back, so the session stays consistent and the
   * data channel keeps working; the caller reports the error.
   */
  private async renegotiate(): Promise<void> {
    // Our answer may still be being applied (werift sets it after a tick).
    if (this.pc.signalingState === 'have-remote-offer') await this.waitForStable(1000);
    if (this.pc.signalingState !== 'stable') {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress');
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const answer = new Promise<SessionDescriptionAnswer>((resolve, reject) => {
      this.awaitingAnswer = { resolve, reject };
    });
    const timer = this.after(this.options.negotiationTimeoutMs, () => {
      this.awaitingAnswer?.reject(new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the client did not answer in time'));
      this.awaitingAnswer = undefined;
    });
    this.lastOfferSdp = offer.sdp;
    this.callbacks.offer({ type: 'offer', sdp: offer.sdp });
    try {
      await this.applyRemote(await answer);
    } catch (err) {
      this.awaitingAnswer = undefined;
      if (!this._closed && (this.pc.signalingState as string) === 'have-local-offer') {
        await this.pc.setLocalDescription({ type: 'rollback' } as never).catch((e: Error) => {
          this.log.warn(`rollback failed: ${e.message}`);
        });
      }
      throw err;
    } finally {
      this.clearTimer(timer);
    }
  }

  private attachChannel(channel: RTCDataChannel): void {
    if (this.channel) return; // one channel per session; later ones are ignored
    this.channel = channel;
    this.on(
      channel.onMessage.subscribe((data) => {
        if (typeof data !== 'string') return this.callbacks.binary?.(data);
        this.callbacks.message(data);
        if (this.options.dataChannelPing) {
          const reply = pingReply(data);
          if (reply !== undefined) this.send(reply);
        }
      }),
    );
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

/** Whether werift would send RTP written to this transceiver now (not drop it). */
function senderReady(t: RTCRtpTransceiver): boolean {
  const sender = t.sender as unknown as { canSendRtp?: () => boolean };
  return typeof sender.canSendRtp === 'function' ? sender.canSendRtp() : true;
}

/** werift accepts an answer with fewer m-lines than the offer, then fails ICE: refuse it. */
function assertSameMediaCount(offerSdp: string | undefined, answerSdp: string): void {
  if (offerSdp !== undefined && sdp.mediaCount(offerSdp) !== sdp.mediaCount(answerSdp)) {
    throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the answer does not match the offer (m-line count)');
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
