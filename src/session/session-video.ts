import type { Logger } from '@nestjs/common';
import { MediaStream, MediaStreamTrack, RTCPeerConnection, RTCRtpTransceiver } from 'werift';
import { StreamingError } from '../common/streaming-error';
import type { MediaSource, PictureLossOutcome } from '../media/media-source';
import type { FeedSink } from '../media/fanout/feed-sink';
import { ErrorCode, SessionState } from '../protocol';
import * as sdp from '../sdp/sdp';
import type { StateNotice, VideoOffReason } from './end-causes';
import type { Negotiation } from './negotiation';
import { SenderReadyWait, startFeed, VideoFeed } from './video-feed';
import { afterFailedResume, isLive, remoteOfferPlan, resumePlan, stopPlan, VideoSlot } from './video-slot';

/** What the session's video needs from its session. */
export interface VideoHost {
  readonly log: Logger;
  readonly sendPath: 'lean' | 'werift';
  readonly pictureLoss: Record<PictureLossOutcome, number>;
  isClosed(): boolean;
  /** Whether the client takes server offers (see Session.renegotiation). */
  renegotiates(): boolean;
  setState(state: SessionState, reason?: VideoOffReason | StateNotice): void;
  /** Re-sends the current state with a notice. */
  reportState(reason: StateNotice): void;
  /** The id of the session's one MediaStream (the audio's too: the browser lip-syncs a stream's tracks). */
  readonly streamId?: string;
  /**
   * The session's audio, switched with the video when a stop or resume is for all media: set
   * before the server's offer (so one offer carries both), settled after it.
   */
  readonly audio?: { prepareOn(): void; prepareOff(): void; settle(): void };
}

/**
 * A session's video: its state (`slot`, see video-slot.ts, which decides the transitions)
 * and the werift work each transition takes: tracks, transceivers and their directions,
 * the server's renegotiations (through `Negotiation`'s queue), and the feed from the source.
 */
export class SessionVideo {
  /** The video: off, on its way, live, or parked. */
  slot: VideoSlot = { kind: 'adding' };
  /** The last feed's send path, kept after it ends for its counters (leanStats). */
  lastSink?: FeedSink;
  /** Waits for the sender, and for a viewer with SCTP on the transport to show it can decrypt. */
  private readonly readyWait: SenderReadyWait;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly source: MediaSource,
    private readonly negotiation: Negotiation,
    private readonly host: VideoHost,
  ) {
    this.readyWait = new SenderReadyWait((dtls) => this.pc.sctpTransport?.dtlsTransport === dtls);
  }

  private get log(): Logger {
    return this.host.log;
  }

  /** Starts sending on the video m-line the client offered. */
  async sendOn(video: RTCRtpTransceiver): Promise<void> {
    const track = this.newTrack();
    await video.sender.replaceTrack(track);
    video.sender.setStreams([this.streamOf(track)]);
    video.setDirection('sendonly');
    this.slot = { kind: 'live', transceiver: video, track };
  }

  /**
   * The client offered a video m-line without the source's codec, beside a data channel:
   * the answer rejects the m-line (port 0) and the session is data-only with
   * `codec-not-supported`, as when a client rejects the server's offer of the video.
   */
  rejectForCodec(video: RTCRtpTransceiver): void {
    video.stop();
    this.slot = { kind: 'off', reason: 'codec-not-supported' };
  }

  /** The session closed: the feed and the track end. */
  close(): void {
    if (this.slot.kind === 'live') this.slot.feed?.stop('session-closed');
    this.readyWait.dispose();
    this.detachVideo();
  }

  /**
   * Stops the video and keeps the data channel: ends the viewer's feed and track, and
   * renegotiates: the video m-line is rejected, or parked `inactive` when it is the BUNDLE
   * tag (see stopPlan). Used for `session:stop-video`, and when the source ends. Idempotent.
   */
  stopVideo(reason: VideoOffReason = 'video-stopped', withAudio = false): Promise<void> {
    return this.negotiation.serial(async () => {
      const plan = stopPlan(this.slot, reason, {
        renegotiation: this.host.renegotiates(),
        ownsTransport: (t) => this.ownsTransport(t.mid),
      });
      if (!plan) return;
      const t = this.slot.kind === 'off' ? undefined : this.slot.transceiver;
      this.detachVideo();
      this.slot = plan.next;
      if (withAudio) this.host.audio?.prepareOff();
      if (!this.host.renegotiates()) return this.refreshState(reason);
      if (plan.mline === 'park') t!.setDirection('inactive');
      else if (plan.mline === 'stop') t!.stop();
      this.refreshState(reason);
      // The side that stopped must offer, or the m-line stays negotiated.
      try {
        await this.negotiation.renegotiate();
      } catch (err) {
        this.host.reportState('negotiation-failed');
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
  resumeVideo(withAudio = false): Promise<void> {
    return this.negotiation.serial(() => this.addVideo('video-resumed', withAudio));
  }

  /** Adds the session's video (and audio) in a negotiation of its own, right after the current one. */
  scheduleVideo(): void {
    this.slot = { kind: 'adding' };
    this.negotiation.serial(() => this.addVideo(undefined, true)).catch((err: Error) => {
      this.log.warn(`adding the video failed: ${err.message}`);
    });
  }

  private async addVideo(reason: 'video-resumed' | undefined, withAudio: boolean): Promise<void> {
    const before = this.slot;
    const plan = resumePlan(before, { renegotiation: this.host.renegotiates(), receives: (t) => this.remoteReceives(t.mid) });
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
      if (withAudio) this.host.audio?.prepareOn();
      return this.refreshState(reason);
    }
    this.detachVideo();
    let transceiver: RTCRtpTransceiver;
    const track = this.newTrack();
    if (plan.reuse) {
      transceiver = plan.reuse as RTCRtpTransceiver;
      await this.unpark(transceiver, track);
    } else {
      transceiver = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.streamOf(track)] });
      // werift would put it on the stopped video m-line with a new mid; aiortc 1.4 then
      // gives the old, stopped transceiver the new mid too and never plays the new one.
      // A new m-line at the end (the stopped one stays at port 0) works for every peer.
      transceiver.mLineIndex = undefined;
    }
    this.slot = { kind: 'adding', transceiver, track };
    if (withAudio) this.host.audio?.prepareOn();
    try {
      await this.negotiation.renegotiate();
      if (withAudio) this.host.audio?.settle();
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
      if (withAudio) this.host.audio?.settle();
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
    this.host.reportState(why);
    throw err;
  }

  /** Applies what the client's offer did to our video m-line (see remoteOfferPlan). */
  adoptRemoteVideo(): void {
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
      on.sender.setStreams([this.streamOf(track)]);
      on.setDirection('sendonly');
    }
    this.slot = { kind: 'live', transceiver: on, track };
  }

  /**
   * Sends on a transceiver with a new track (the next local description says sendonly: the
   * direction is set before this returns its promise).
   */
  private unpark(t: RTCRtpTransceiver, track: MediaStreamTrack): Promise<void> {
    t.sender.setStreams([this.streamOf(track)]);
    t.setDirection('sendonly');
    return t.sender.replaceTrack(track);
  }

  newTrack(): MediaStreamTrack {
    return new MediaStreamTrack({ kind: 'video' });
  }

  /** The session's MediaStream for a new track (one id for the video and the audio, when the host gives one). */
  private streamOf(track: MediaStreamTrack): MediaStream {
    return this.host.streamId ? new MediaStream({ id: this.host.streamId, tracks: [track] }) : new MediaStream([track]);
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
  refreshState(reason?: VideoOffReason | StateNotice): void {
    if (this.host.isClosed() || this.pc.connectionState !== 'connected') return;
    const s = this.slot;
    if (s.kind === 'live' && isLive(s.transceiver) && !s.feed) {
      const transceiver = s.transceiver;
      // pc.connectionState can read `connected` before this sender's DTLS transport and
      // codec are ready, or before the viewer has finished its DTLS handshake; RTP written
      // then is dropped, the cached keyframe with it.
      if (this.readyWait.mustWait(transceiver)) {
        this.readyWait.until(transceiver, () => {
          const now = this.slot;
          if (!this.host.isClosed() && now.kind !== 'off' && now.transceiver === transceiver) this.refreshState(reason);
        });
        return;
      }
      const feed: VideoFeed = startFeed({
        source: this.source,
        sendPath: this.host.sendPath,
        transceiver,
        track: s.track,
        pictureLoss: this.host.pictureLoss,
        current: (f) => !this.host.isClosed() && this.slot.kind === 'live' && this.slot.feed === f,
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
    this.host.setState(streaming ? 'streaming' : 'data-only', streaming ? sourceOffline : reason);
  }
}
