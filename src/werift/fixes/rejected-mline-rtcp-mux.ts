import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

/**
 * A rejected (port 0) audio/video m-line in werift's offer lacked `a=rtcp-mux`: werift
 * prints it only together with an `a=rtcp` line, which it leaves out there. aiortc refuses
 * such an offer ("RTCP mux is not enabled"); Chromium writes both lines, and so now does
 * werift.
 */
export const rejectedMlineRtcpMux: WeriftFix = {
  name: 'rejected-mline-rtcp-mux',
  apply() {
    const { SDPManager } = weriftModule('webrtc/src/sdpManager.js');
    const { DISCARD_HOST, DISCARD_PORT } = weriftModule('webrtc/src/const.js');
    wrapMethod(SDPManager.prototype, 'createRejectedMediaDescription', (original) =>
      function (this: unknown, ...args: unknown[]) {
        const media = original.apply(this, args);
        media.rtcpMux = true;
        media.rtcpPort = DISCARD_PORT;
        media.rtcpHost = DISCARD_HOST;
        return media;
      },
    );
  },
};
