import type { RTCPeerConnection } from 'werift';

/** Default of `SessionOptions.peerSilenceMs`. */
export const DEFAULT_PEER_SILENCE_MS = 5_000;
/**
 * Without video there is no RTCP: what comes from the peer is its ICE consent checks
 * (RFC 7675, every 4-6 s) and SCTP. Such a session is given at least this long.
 */
export const IDLE_PEER_SILENCE_MS = 15_000;
const CHECK_EVERY_MS = 250;

interface Subscribable {
  subscribe(fn: (...args: never[]) => void): { unSubscribe(): void };
}
interface WatchedConnection {
  onData: Subscribable;
  protocols: { onRequestReceived?: Subscribable }[];
}

/**
 * Notices a viewer whose network went silent while its signalling socket stays up. A
 * receiving browser sends RTCP (receiver reports) about every second, and ICE consent
 * checks every few seconds: anything at all from the peer (DTLS records, which carry SRTCP
 * and SCTP, or a STUN request) counts as alive. Once connected, a peer silent for
 * `silenceMs` (while video streams; `IDLE_PEER_SILENCE_MS` at least otherwise) is reported
 * through `onSilent`, once. werift alone would notice only when ICE consent expires, about
 * 25-30 s later. Returns the disposer.
 */
export function watchPeerSilence(
  pc: RTCPeerConnection,
  opts: { silenceMs: number; streaming: () => boolean; onSilent: () => void },
): () => void {
  if (!(opts.silenceMs > 0)) return () => undefined;
  let last = Date.now();
  let fired = false;
  const touch = () => {
    last = Date.now();
  };
  const subs: { unSubscribe(): void }[] = [];
  const watched = new WeakSet<object>();
  // Transports come and go with renegotiations: pick up new ones as they appear.
  const attach = () => {
    for (const t of pc.iceTransports) {
      const c = t.connection as unknown as WatchedConnection;
      if (!watched.has(c)) {
        watched.add(c);
        subs.push(c.onData.subscribe(touch));
      }
      for (const p of c.protocols ?? []) {
        if (p.onRequestReceived && !watched.has(p)) {
          watched.add(p);
          subs.push(p.onRequestReceived.subscribe(touch));
        }
      }
    }
  };
  let wasConnected = false;
  const timer = setInterval(() => {
    if (fired) return;
    if (pc.connectionState !== 'connected') {
      wasConnected = false;
      return;
    }
    attach();
    if (!wasConnected) {
      // The clock starts when the connection is up (not while ICE is still checking).
      wasConnected = true;
      touch();
      return;
    }
    const limit = opts.streaming() ? opts.silenceMs : Math.max(opts.silenceMs, IDLE_PEER_SILENCE_MS);
    if (Date.now() - last > limit) {
      fired = true;
      opts.onSilent();
    }
  }, CHECK_EVERY_MS);
  timer.unref?.();
  return () => {
    clearInterval(timer);
    for (const s of subs.splice(0)) s.unSubscribe();
  };
}
