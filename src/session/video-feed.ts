import type { MediaStreamTrack, RTCRtpTransceiver } from 'werift';
import type { MediaSource, PictureLossOutcome } from '../media/media-source';
import type { SourceTrack } from '../media/source-track';
import { createFeedSink, FeedSink } from '../media/fanout/feed-sink';
import { endedBySource, FeedEndCause } from './end-causes';

/** A viewer's feed from its source into one video sender, with its PLI listener. */
export interface VideoFeed {
  readonly track: SourceTrack;
  readonly sink: FeedSink;
  readonly ended: boolean;
  stop(cause: FeedEndCause): void;
}

/**
 * Subscribes the sender to the source (on the lean path or werift's). A viewer's PLI is
 * answered from the source's cache or passed to the source, rate-limited, and counted in
 * `pictureLoss`. Every way the feed ends drops the PLI listener; when the source ended it
 * (a file played once, a shutdown), `onSourceEnded` is told, to stop only the video.
 */
export function startFeed(args: {
  source: MediaSource;
  sendPath: 'lean' | 'werift';
  transceiver: RTCRtpTransceiver;
  track: MediaStreamTrack;
  pictureLoss: Record<PictureLossOutcome, number>;
  /** Whether this feed is still the session's (PLIs for an old one are ignored). */
  current(feed: VideoFeed): boolean;
  onSourceEnded(why: string): void;
}): VideoFeed {
  const sink = createFeedSink(args.sendPath, args.transceiver.sender, args.track);
  const track = args.source.subscribe(sink.sink);
  const feed: VideoFeed = {
    track,
    sink,
    get ended() {
      return track.ended;
    },
    stop: (cause) => track.stop(cause),
  };
  const pli = args.transceiver.sender.onPictureLossIndication.subscribe(() => {
    if (!args.current(feed)) return;
    args.pictureLoss[args.source.pictureLoss(track)]++;
  });
  track.once('ended', (why) => {
    sink.close();
    pli.unSubscribe();
    if (endedBySource(why)) args.onSourceEnded(why);
  });
  return feed;
}

/** Whether werift would send RTP written to this transceiver now (not drop it). */
export function senderReady(t: RTCRtpTransceiver): boolean {
  const sender = t.sender as unknown as { canSendRtp?: () => boolean };
  return typeof sender.canSendRtp === 'function' ? sender.canSendRtp() : true;
}

/**
 * Calls `fn` once the transceiver's sender can send (werift's onReady; see
 * src/werift/fixes/sender-ready-event.ts). One wait at a time: waiting for another
 * transceiver replaces it, waiting again for the same one is a no-op.
 */
export class SenderReadyWait {
  private wait?: { transceiver: RTCRtpTransceiver; dispose: () => void };

  until(transceiver: RTCRtpTransceiver, fn: () => void): void {
    if (this.wait?.transceiver === transceiver) return;
    this.wait?.dispose();
    const sub = transceiver.sender.onReady.subscribe(() => {
      if (!senderReady(transceiver)) return;
      this.wait?.dispose();
      fn();
    });
    this.wait = {
      transceiver,
      dispose: () => {
        sub.unSubscribe();
        if (this.wait?.transceiver === transceiver) this.wait = undefined;
      },
    };
  }

  dispose(): void {
    this.wait?.dispose();
  }
}
