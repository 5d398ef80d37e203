import type { MediaStreamTrack, RTCRtpSender } from 'werift';
import type { MediaSink } from '../source-track';
import { LeanSender } from './lean-sender';

/** A viewer's sink for `MediaSource.subscribe`, and what to release when its feed ends. */
export interface FeedSink {
  sink: MediaSink;
  close(): void;
  /** The lean sender (undefined on werift's path); for tests and diagnostics. */
  lean?: LeanSender;
}

/** The send path a session's feed uses: the lean sender, or werift's track. */
export function createFeedSink(path: 'lean' | 'werift', sender: RTCRtpSender, track: MediaStreamTrack): FeedSink {
  if (path === 'werift') return { sink: (packet) => track.writeRtp(packet), close: () => undefined };
  const lean = new LeanSender(sender);
  return { sink: lean.deliver, close: () => lean.close(), lean };
}
