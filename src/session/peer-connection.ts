// First: werift's fixes apply before any RTCPeerConnection exists.
import { dtlsCertificates } from '../werift';
import { RTCIceCandidate, RTCPeerConnection, RTCRtpCodecParameters, useAbsSendTime, useSdesMid, useTransportWideCC } from 'werift';
import type { IceCandidateInit } from '../protocol';
import { SessionOptions, weriftIceConfig } from './session.options';

/**
 * A session's werift connection: one video codec, the source's audio codec (Opus) or no
 * audio, the process's DTLS certificate.
 */
export function createPeerConnection(
  options: SessionOptions,
  codec: RTCRtpCodecParameters,
  audioCodec?: RTCRtpCodecParameters,
): RTCPeerConnection {
  // The process's certificate (its fingerprint is in every answer), not one per session.
  const certificate = dtlsCertificates.get(options.certificateRotationMs);
  return new RTCPeerConnection({
    ...weriftIceConfig(options),
    ...(certificate ? { dtls: {}, certificates: [certificate as never] } : {}),
    // RTX (RFC 4588) beside the codec: negotiated when the browser offers it (Chromium does),
    // so NACKed packets go back on their own SSRC and never trip the receiver's SRTP replay check.
    codecs: { audio: audioCodec ? [audioCodec] : [], video: [codec, rtxFor(codec)] },
    headerExtensions: {
      // The audio's transport-wide sequence numbers share the video's counter (one transport).
      audio: audioCodec ? [useSdesMid(), useAbsSendTime(), useTransportWideCC()] : [],
      // Give the browser's bandwidth estimator the data it needs.
      video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
    },
  });
}

/**
 * The RTX codec for `codec`. Without a payload type werift numbers both (96 + position) and
 * sets `apt` to the one before, which is `codec`; when answering, it takes the offer's RTX
 * whose `apt` is the offered codec's.
 */
export function rtxFor(codec: RTCRtpCodecParameters): RTCRtpCodecParameters {
  const pt = codec.payloadType;
  return new RTCRtpCodecParameters({
    mimeType: 'video/rtx',
    clockRate: codec.clockRate,
    ...(pt === undefined ? {} : { payloadType: pt === 127 ? 126 : pt + 1, parameters: `apt=${pt}` }),
  });
}

/**
 * When the client offered `a=setup:actpass`, answer `passive`: the browser then starts
 * the DTLS handshake the moment ICE connects, whereas werift as DTLS client waits a
 * fixed 100 ms first. Worth about 100 ms of time to first frame.
 */
export function preferDtlsServer(pc: RTCPeerConnection): void {
  for (const t of pc.dtlsTransports) {
    if (t.role === 'auto' && t.state === 'new') t.role = 'server';
  }
}

/** A werift candidate as the protocol sends it. */
export function toCandidateInit(c: RTCIceCandidate): IceCandidateInit {
  const json = c.toJSON();
  return {
    candidate: json.candidate,
    sdpMid: json.sdpMid ?? null,
    sdpMLineIndex: json.sdpMLineIndex ?? null,
    usernameFragment: json.usernameFragment ?? null,
  };
}

/** A client's candidate as werift takes it. */
export function fromCandidateInit(candidate: IceCandidateInit): RTCIceCandidate {
  return {
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid ?? undefined,
    sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
    usernameFragment: candidate.usernameFragment ?? undefined,
  } as RTCIceCandidate;
}
