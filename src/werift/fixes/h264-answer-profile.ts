import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

interface Codec {
  mimeType: string;
  parameters?: string;
}

const fmtp = (c: Codec, key: string) =>
  (c.parameters ?? '')
    .split(';')
    .map((p) => p.trim().split('='))
    .find(([k]) => k.toLowerCase() === key)?.[1]
    ?.toLowerCase();
const isH264 = (c: Codec) => c.mimeType.toLowerCase() === 'video/h264';
// RFC 6184 8.1: packetization-mode 0 when absent.
const mode = (c: Codec) => fmtp(c, 'packetization-mode') ?? '0';

/**
 * When answering, werift pairs each configured codec with the first offered one of the same
 * MIME type, so an H.264 codec configured as packetization-mode 1 with the source's
 * profile-level-id took the offer's first H.264 entry: Chromium's 42001f (Baseline) for a
 * Constrained Baseline source offered 42e01f too, and a packetization-mode 0 entry when an
 * offer lists one first (a mode the sender does not speak). Now the offered H.264 entries
 * with the configured packetization-mode come first for it, the configured profile-level-id
 * first among them; werift's own pairing then does the rest.
 */
export const h264AnswerProfile: WeriftFix = {
  name: 'h264-answer-profile',
  apply() {
    const { TransceiverManager } = weriftModule('webrtc/src/transceiverManager.js');
    wrapMethod(TransceiverManager.prototype, 'resolveRemoteCodecSet', (original) =>
      function (this: unknown, localCodecs: Codec[], remoteMedia: { rtp: { codecs: Codec[] } }, ...rest: unknown[]) {
        const local = localCodecs.find(isH264);
        const offered = remoteMedia.rtp.codecs;
        if (!local || !offered.some(isH264)) return original.call(this, localCodecs, remoteMedia, ...rest);
        const pli = fmtp(local, 'profile-level-id');
        const rank = (c: Codec) => (!isH264(c) ? 0 : mode(c) !== mode(local) ? 3 : fmtp(c, 'profile-level-id') === pli ? 1 : 2);
        // Stable: the offer's order stays within each rank, and non-H.264 entries keep theirs.
        const h264 = offered.filter(isH264).sort((a, b) => rank(a) - rank(b));
        let i = 0;
        const reordered = offered.map((c) => (isH264(c) ? h264[i++] : c));
        // The mode the sender does not speak is never paired.
        remoteMedia.rtp.codecs = reordered.filter((c) => !isH264(c) || mode(c) === mode(local));
        try {
          return original.call(this, localCodecs, remoteMedia, ...rest);
        } finally {
          remoteMedia.rtp.codecs = offered;
        }
      },
    );
  },
};
