import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * `RTCRtpSender.onReady` fired only when the sender's DTLS transport reached `connected`.
 * A sender can also become able to send later: its codec is negotiated (`prepareSend`)
 * after the transport connected (a transceiver added by a renegotiation on a BUNDLE
 * transport already up), or it is moved to a transport already connected. RTP written
 * before that is dropped, so callers had to poll `canSendRtp()`. `onReady` now fires on
 * every transition of `canSendRtp()` from false to true.
 */
export const senderReadyEvent: WeriftFix = {
  name: 'sender-ready-event',
  apply() {
    const { RTCRtpSender } = weriftModule('webrtc/src/media/rtpSender.js');
    const proto = RTCRtpSender.prototype;
    if (typeof proto.canSendRtp !== 'function') throw new Error('RTCRtpSender.canSendRtp is missing');
    for (const key of ['prepareSend', 'setDtlsTransport']) {
      wrapMethod(proto, key, (original) =>
        function (this: { canSendRtp(): boolean; onReady: { execute(): void } }, ...args: unknown[]) {
          const could = this.canSendRtp();
          const result = original.apply(this, args);
          if (!could && this.canSendRtp()) this.onReady.execute();
          return result;
        },
      );
    }
  },
};
