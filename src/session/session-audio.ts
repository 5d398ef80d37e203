import type { Logger } from '@nestjs/common';
import { MediaStream, MediaStreamTrack, RTCPeerConnection, RTCRtpTransceiver } from 'werift';
import type { MediaSource } from '../media/media-source';
import type { SourceTrack } from '../media/source-track';
import { createFeedSink, FeedSink } from '../media/fanout/feed-sink';
import * as sdp from '../sdp/sdp';
import type { Negotiation } from './negotiation';
import { SenderReadyWait, senderReady } from './video-feed';

/** What the session's audio needs from its session. */
export interface AudioHost {
  readonly log: Logger;
  readonly sendPath: 'lean' | 'werift';
  /** The id of the one MediaStream the video and the audio belong to (the browser lip-syncs a stream's tracks). */
  readonly streamId: string;
  isClosed(): boolean;
  /** Whether the client takes server offers (see Session.renegotiation). */
  renegotiates(): boolean;
}

/**
 * A session's audio (only for a source that carries audio): one sendonly audio transceiver
 * in the same MediaStream as the video, fed from the source's audio fan-out through its own
 * sender (lean or werift path). Stopping it never rejects its m-line: it is parked
 * (`inactive`) and later turned back to `sendonly`, so it can never be the BUNDLE tag that
 * is rejected (the data channel's transport survives), and no m-line is added per resume.
 * A peer without server offers (WHEP) keeps the m-line as it is: the feed just stops.
 *
 * `wanted` is what the session means (on unless stopped); the feed runs when it is wanted,
 * the m-line is negotiated sendonly, the client receives on it, and the sender can send.
 */
export class SessionAudio {
  private transceiver?: RTCRtpTransceiver;
  private track?: MediaStreamTrack;
  private feed?: { track: SourceTrack; sink: FeedSink };
  private wanted: boolean;
  /**
   * Whether the server may add the audio m-line itself (in its offers). Off in the classic
   * flow, where the client's offer says whether it wants audio; an explicit audio resume
   * (`kind: 'audio'`) still adds one.
   */
  addable = true;
  private readonly readyWait = new SenderReadyWait();
  /** The last feed's send path, kept after it ends for its counters. */
  lastSink?: FeedSink;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly source: MediaSource,
    private readonly negotiation: Negotiation,
    private readonly host: AudioHost,
  ) {
    this.wanted = source.hasAudio;
  }

  /** Whether the source has audio at all. */
  get available(): boolean {
    return this.source.hasAudio;
  }

  /** `none` (no audio in the source or the session), `live` (sending), `stopped` (wanted off, or not yet flowing). */
  get status(): 'none' | 'live' | 'stopped' {
    if (!this.available || !this.transceiver) return 'none';
    return this.feed && !this.feed.track.ended ? 'live' : 'stopped';
  }

  /** The client offered an audio m-line (the classic flow, WHEP): send on it when the source has audio. */
  async sendOn(t: RTCRtpTransceiver): Promise<void> {
    if (!this.available) return;
    this.transceiver = t;
    const track = this.newTrack();
    await t.sender.replaceTrack(track);
    t.sender.setStreams([this.stream(track)]);
    t.setDirection(this.wanted ? 'sendonly' : 'inactive');
  }

  /**
   * Before a server offer that turns the media on (the video's first negotiation or a
   * resume): adds the audio transceiver (a new m-line at the end) or turns a parked one back
   * to sendonly, so the same offer carries both. Without server offers, the feed restarts in
   * place. `settle()` after the negotiation starts the feed.
   */
  prepareOn(explicit = false): void {
    if (!this.available || this.host.isClosed()) return;
    if (!this.transceiver && !this.addable && !explicit) return;
    this.wanted = true;
    if (!this.host.renegotiates()) return this.refresh();
    const t = this.transceiver;
    if (t && !t.stopping && !t.stopped && !sdp.rejects(this.pc.remoteDescription?.sdp, t.mid)) {
      if (t.direction !== 'sendonly') {
        const track = this.newTrack();
        t.sender.setStreams([this.stream(track)]);
        t.setDirection('sendonly');
        void t.sender.replaceTrack(track);
      }
      return;
    }
    const track = this.newTrack();
    const added = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream(track)] });
    // A new m-line at the end, never a recycled one (see SessionVideo.addVideo).
    added.mLineIndex = undefined;
    this.transceiver = added;
  }

  /**
   * Before a server offer that turns the media off: the feed ends and the m-line is parked
   * (`inactive`; without server offers it stays as it is).
   */
  prepareOff(): void {
    this.wanted = false;
    this.detach();
    const t = this.transceiver;
    if (t && this.host.renegotiates() && !t.stopping && !t.stopped && t.mid != null) t.setDirection('inactive');
  }

  /** Stops only the audio (its own renegotiation). Idempotent. */
  stop(): Promise<void> {
    return this.negotiation.serial(async () => {
      if (!this.wanted) return;
      this.prepareOff();
      if (this.host.renegotiates() && this.transceiver?.mid != null) await this.negotiation.renegotiate();
    });
  }

  /**
   * Resumes the audio (its own renegotiation). `explicit`: the client asked for the audio
   * (`kind: 'audio'`), which adds an m-line even where the client offered none. Idempotent.
   */
  resume(explicit = false): Promise<void> {
    return this.negotiation.serial(async () => {
      if (!this.available || this.source.ended) return;
      if (!this.transceiver && !this.addable && !explicit) return;
      const negotiated = this.transceiver?.direction === 'sendonly' && this.remoteReceives();
      if (this.wanted && negotiated) return this.refresh();
      this.prepareOn(explicit);
      if (this.host.renegotiates()) {
        try {
          await this.negotiation.renegotiate();
        } finally {
          this.settle();
        }
      }
    });
  }

  /** After a negotiation (ours, or the client's offer): feed or stop as the descriptions now say. */
  settle(): void {
    if (this.transceiver && sdp.rejects(this.pc.remoteDescription?.sdp, this.transceiver.mid)) {
      // The client rejected the audio (it cannot play Opus, or stopped its transceiver).
      this.detach();
      return;
    }
    this.refresh();
  }

  /**
   * Feeds the sender from the source's audio once everything allows it (see the class
   * comment); detaches the feed when something no longer does. Called on `connected`, after
   * negotiations, and when the sender becomes ready.
   */
  refresh(): void {
    if (this.host.isClosed()) return;
    const t = this.transceiver;
    const can =
      this.wanted &&
      !!t &&
      !t.stopping &&
      !t.stopped &&
      !this.source.ended &&
      (!this.host.renegotiates() || t.direction === 'sendonly') &&
      this.remoteReceives();
    if (!can) {
      if (!this.wanted || (t && !this.remoteReceives())) this.detach();
      return;
    }
    if (this.feed && !this.feed.track.ended) return;
    if (this.pc.connectionState !== 'connected' || !senderReady(t)) {
      this.readyWait.until(t, () => this.refresh());
      return;
    }
    const sink = createFeedSink(this.host.sendPath, t.sender, this.track ?? this.newTrack());
    const track = this.source.subscribeAudio(sink.sink);
    track.once('ended', () => sink.close());
    if (track.ended) sink.close();
    this.feed = { track, sink };
    this.lastSink = sink;
  }

  /** The session closed. */
  close(): void {
    this.readyWait.dispose();
    this.detach();
    this.track?.stop();
  }

  private detach(): void {
    this.readyWait.dispose();
    this.feed?.track.stop('audio-stopped');
    this.feed = undefined;
  }

  private remoteReceives(): boolean {
    return !!this.transceiver && sdp.receives(this.pc.remoteDescription?.sdp, this.transceiver.mid);
  }

  private newTrack(): MediaStreamTrack {
    this.track?.stop();
    this.track = new MediaStreamTrack({ kind: 'audio' });
    return this.track;
  }

  private stream(track: MediaStreamTrack): MediaStream {
    return new MediaStream({ id: this.host.streamId, tracks: [track] });
  }
}
