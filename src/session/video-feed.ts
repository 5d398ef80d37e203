import type { MediaStreamTrack, RTCRtpTransceiver } from 'werift';
import type { MediaSource, PictureLossOutcome } from '../media/media-source';
import type { SourceTrack } from '../media/source-track';
import { createFeedSink, FeedSink } from '../media/fanout/feed-sink';
import type { PeerConfirmation } from '../werift/fixes/dtls-peer-confirmed';
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
 * How long the first send waits at most for a sign that the viewer can decrypt SRTP (see
 * `awaitingPeer`). A viewer that shows none by then is sent to anyway: it may still have its
 * keys, and one that lost the keyframe asks for it again (PLI).
 */
export const PEER_CONFIRM_TIMEOUT_MS = 1000;

type ConfirmableTransport = PeerConfirmation & object;

/** Transports whose peer gave no sign within PEER_CONFIRM_TIMEOUT_MS: not waited for again. */
const gaveUp = new WeakSet<object>();

/**
 * The sender's DTLS transport when the first packets must wait for the viewer: werift (as
 * DTLS server) is connected once it has sent its Finished, and the viewer drops SRTP that
 * comes before it has verified it (a loaded werift client does; the cached keyframe is then
 * lost). werift's own `connected` usually waits for the SCTP association, which implies the
 * viewer is done, but not when an answer (the data-first flow's second one) is applied after
 * ICE connected and before DTLS: its connect() then reads `connected` at once, and the sender
 * becomes ready right after the server's Finished. The sign is the viewer's first SCTP packet
 * or SRTCP (src/werift/fixes/dtls-peer-confirmed.ts).
 * Only a transport that carries SCTP (`sctpOn`) is waited for: its viewer sends an SCTP
 * packet (its INIT, or its INIT-ACK to ours) as soon as its handshake is done, within a
 * round trip, so Chromium's first frame does not move; without SCTP no sign need come
 * before the first RTP (a WHEP player), and the send starts at once, as before.
 */
export function awaitingPeer(t: RTCRtpTransceiver, sctpOn: (dtls: object) => boolean): ConfirmableTransport | undefined {
  const dtls = t.sender.dtlsTransport as unknown as ConfirmableTransport | undefined;
  if (!dtls || dtls.peerConfirmed || !dtls.onPeerConfirmed || gaveUp.has(dtls)) return undefined;
  return sctpOn(dtls) ? dtls : undefined;
}

/**
 * Calls `fn` once the transceiver's sender can send (werift's onReady; see
 * src/werift/fixes/sender-ready-event.ts) and, where `awaitingPeer` says so, once the viewer
 * can decrypt. One wait at a time: waiting for another transceiver replaces it, waiting again
 * for the same one is a no-op.
 */
export class SenderReadyWait {
  private wait?: { transceiver: RTCRtpTransceiver; dispose: () => void };

  constructor(private readonly sctpOn: (dtls: object) => boolean = () => false) {}

  /** Whether `fn` would have to wait (the sender cannot send yet, or its viewer is not confirmed). */
  mustWait(transceiver: RTCRtpTransceiver): boolean {
    return !senderReady(transceiver) || awaitingPeer(transceiver, this.sctpOn) !== undefined;
  }

  until(transceiver: RTCRtpTransceiver, fn: () => void): void {
    if (this.wait?.transceiver === transceiver) return;
    this.wait?.dispose();
    const disposers: (() => void)[] = [];
    const wait = {
      transceiver,
      dispose: () => {
        for (const d of disposers.splice(0)) d();
        if (this.wait === wait) this.wait = undefined;
      },
    };
    this.wait = wait;
    const fire = () => {
      if (this.wait !== wait) return;
      wait.dispose();
      fn();
    };
    let waitingForPeer = false;
    const next = () => {
      if (!senderReady(transceiver)) return;
      const dtls = awaitingPeer(transceiver, this.sctpOn);
      if (!dtls) return fire();
      if (waitingForPeer) return;
      waitingForPeer = true;
      const onConfirmed = () => fire();
      dtls.onPeerConfirmed!.add(onConfirmed);
      const timer = setTimeout(() => {
        gaveUp.add(dtls);
        fire();
      }, PEER_CONFIRM_TIMEOUT_MS);
      disposers.push(() => {
        dtls.onPeerConfirmed?.delete(onConfirmed);
        clearTimeout(timer);
      });
    };
    const sub = transceiver.sender.onReady.subscribe(next);
    disposers.push(() => sub.unSubscribe());
    // Ready already: only the peer is waited for now. (Otherwise the next onReady decides, as
    // before: the audio waits here for its sender while the connection is still connecting.)
    if (senderReady(transceiver) && awaitingPeer(transceiver, this.sctpOn)) next();
  }

  dispose(): void {
    this.wait?.dispose();
  }
}
