import type { Outbox } from './outbox.js';

/** Data channel events become the session's: `channel` on open and close, `message` per message. */
export function wireChannel(ch: RTCDataChannel, outbox: Outbox, dispatch: (ev: Event) => void): void {
  ch.binaryType = 'arraybuffer';
  ch.onopen = () => {
    outbox.flush(ch);
    dispatch(new Event('channel'));
  };
  ch.onclose = () => dispatch(new Event('channel'));
  ch.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
    dispatch(new MessageEvent('message', { data: e.data }));
  };
}

/**
 * Puts `stream` on the element and plays it. `played(false)` once it plays; `played(true, err)`
 * when the browser refused (autoplay policy): `play()` from a click fixes that.
 */
export function playStream(video: HTMLVideoElement, stream: MediaStream, played: (blocked: boolean, err?: unknown) => void): void {
  // The same stream again (its audio track arrived): setting it anew would reload the element.
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().then(
    () => played(false),
    (err: unknown) => {
      // AbortError: a newer stream replaced this one before it played (a resume).
      if ((err as { name?: string })?.name === 'AbortError') return;
      played(true, err);
    },
  );
}
