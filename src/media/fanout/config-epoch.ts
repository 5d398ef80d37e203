import { weriftModule } from '../../werift/werift-lib';
import { wrapMethod } from '../../werift/fixes/fix';

/**
 * A counter that moves whenever werift changes anything the lean path reads from its
 * objects (see `SenderConfig`): a sender's transport, codec, mid, header extensions or stop;
 * a DTLS transport's state or SRTP keys; an ICE connection's state, nominated pair or
 * restart; a description set on any peer connection. While it stands still, a viewer's
 * configuration cannot have changed, and the per-packet check can skip reading werift's
 * objects (a dozen property reads on objects V8 keeps in slow mode: several % of the server's
 * CPU with hundreds of viewers). One counter for the thread, not one per session: it moves
 * only when some session negotiates or changes state, then every viewer re-reads once.
 */
export const configEpoch: { value: number } = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('webrtc-oneway.configEpoch.value')
] ??= { value: 0 }) as { value: number };
// One counter for the process's thread even when this module is loaded twice (a test
// runner's module registries, an embedder's second copy): the hooks installed by one copy
// must move the counter the other copy reads.

const INSTALLED = Symbol.for('webrtc-oneway.configEpoch');

/** The methods (module, class, names) whose calls move the epoch. */
const HOOKS: [string, string, string[]][] = [
  ['webrtc/src/media/rtpSender.js', 'RTCRtpSender', ['setDtlsTransport', 'prepareSend', 'stop']],
  ['webrtc/src/transport/dtls.js', 'RTCDtlsTransport', ['setState', 'updateSrtpSession', 'stop']],
  ['ice/src/ice.js', 'Connection', ['setState', 'restart', 'resetNominatedPair', 'close']],
  ['webrtc/src/peerConnection.js', 'RTCPeerConnection', ['setLocalDescription', 'setRemoteDescription', 'restartIce', 'close']],
];

function bump(): void {
  configEpoch.value++;
}

/**
 * `checkComplete` runs for every connectivity check, and with an ICE-lite agent for every
 * STUN request that carries USE-CANDIDATE (some browsers send it on every consent check):
 * it moves the epoch only when it changed the nominated pair, or it would move it hundreds
 * of times a second with hundreds of viewers.
 */
function watchNomination(proto: Record<string | symbol, unknown>): void {
  wrapMethod(proto as Record<string, any>, 'checkComplete', (original) =>
    function (this: { nominated?: unknown }, ...args: unknown[]) {
      const before = this.nominated;
      const result = original.apply(this, args);
      if (this.nominated !== before) bump();
      return result;
    },
  );
}

/**
 * Wraps the methods in `HOOKS` once per loaded copy of werift (each worker thread loads its
 * own). A wrapped method moves the epoch before and after it runs (an async one also when it
 * settles), so a change made anywhere inside it, even after an await, is seen.
 */
export function installConfigEpoch(): void {
  for (const [path, className, methods] of HOOKS) {
    const cls = (weriftModule(path) as Record<string, { prototype: Record<string | symbol, unknown> }>)[className];
    if (!cls) throw new Error(`werift has no ${className} in ${path}`);
    const proto = cls.prototype;
    if (proto[INSTALLED]) continue;
    if (className === 'Connection') watchNomination(proto);
    for (const name of methods) {
      wrapMethod(proto as Record<string, any>, name, (original) =>
        function (this: unknown, ...args: unknown[]) {
          bump();
          const result = original.apply(this, args);
          if (result && typeof (result as Promise<unknown>).then === 'function') {
            (result as Promise<unknown>).then(bump, bump);
          } else {
            bump();
          }
          return result;
        },
      );
    }
    proto[INSTALLED] = true;
  }
}
