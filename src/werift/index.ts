/**
 * Fixes to werift, applied at run time to the classes werift's CommonJS build exports,
 * the build this service loads. Importing this module applies them once (before any
 * RTCPeerConnection exists: src/session/session.ts imports it first), in this repository
 * and in an application that installed the package alike; nothing is patched on disk.
 * Each fix is a small named unit in fixes/, written up for upstream in
 * docs/werift-upstream.md. A werift release other than WERIFT_VERSION is refused here,
 * at boot, with an error that says so.
 */
import { certificateFingerprintOnce } from './fixes/certificate-fingerprint-once';
import { dtlsActpassOffers } from './fixes/dtls-actpass-offers';
import { dtlsClientNoFixedDelay } from './fixes/dtls-client-no-fixed-delay';
import { dtlsEarlyClientHello } from './fixes/dtls-early-client-hello';
import { dtlsLazyLogSummary } from './fixes/dtls-lazy-log-summary';
import { dtlsNodeCrypto } from './fixes/dtls-node-crypto';
import { dtlsPeerConfirmed } from './fixes/dtls-peer-confirmed';
import { dtlsRetransmittedHellos } from './fixes/dtls-retransmitted-hellos';
import { dtlsStopRetransmitOnClose } from './fixes/dtls-stop-retransmit-on-close';
import { dtlsVerifyClientSignature } from './fixes/dtls-verify-client-signature';
import { dtlsVerifyServerSignature } from './fixes/dtls-verify-server-signature';
import { eventSharedMethods } from './fixes/event-shared-methods';
import { h264AnswerProfile } from './fixes/h264-answer-profile';
import { extmapIdsInBundle } from './fixes/extmap-ids-in-bundle';
import { iceConnectedAtNomination } from './fixes/ice-connected-at-nomination';
import { iceRestartConnect } from './fixes/ice-restart-connect';
import { iceRoleKeptInReoffer } from './fixes/ice-role-kept-in-reoffer';
import type { WeriftFix } from './fixes/fix';
import { noCodecsForRejectedMline } from './fixes/no-codecs-for-rejected-mline';
import { noDefaultStun } from './fixes/no-default-stun';
import { rejectedMlineRtcpMux } from './fixes/rejected-mline-rtcp-mux';
import { remoteSdpParsedOnce } from './fixes/remote-sdp-parsed-once';
import { sctpFlushBeforeStart } from './fixes/sctp-flush-before-start';
import { sctpStopReplacedAssociation } from './fixes/sctp-stop-replaced-association';
import { senderReadyEvent } from './fixes/sender-ready-event';
import { srtpProfileOrder } from './fixes/srtp-profile-order';
import { staleLocalDescription } from './fixes/stale-local-description';
import { udpCloseOnFailedBind } from './fixes/udp-close-on-failed-bind';
import { installedWeriftVersion, WERIFT_VERSION, weriftModule, weriftRoot } from './werift-lib';

export { WERIFT_VERSION } from './werift-lib';
export { dtlsCertificates, DtlsCertificates } from './certificate';
export type { DtlsCertificate } from './certificate';

/** In the order they are applied. */
export const WERIFT_FIXES: readonly WeriftFix[] = [
  noDefaultStun,
  dtlsActpassOffers,
  dtlsStopRetransmitOnClose,
  staleLocalDescription,
  rejectedMlineRtcpMux,
  noCodecsForRejectedMline,
  dtlsNodeCrypto,
  dtlsClientNoFixedDelay,
  dtlsEarlyClientHello,
  dtlsRetransmittedHellos,
  srtpProfileOrder,
  certificateFingerprintOnce,
  senderReadyEvent,
  sctpFlushBeforeStart,
  sctpStopReplacedAssociation,
  iceRestartConnect,
  udpCloseOnFailedBind,
  extmapIdsInBundle,
  dtlsLazyLogSummary,
  remoteSdpParsedOnce,
  dtlsPeerConfirmed,
  eventSharedMethods,
  iceRoleKeptInReoffer,
  iceConnectedAtNomination,
  h264AnswerProfile,
  dtlsVerifyClientSignature,
  dtlsVerifyServerSignature,
];

const applied = Symbol.for('webrtc-oneway.werift-fixes');

/**
 * Applies every fix to the werift that `require('werift')` resolves to, once (the marker
 * sits on werift's own RTCPeerConnection class, so each loaded copy of werift, such as
 * one per Jest module registry, is fixed exactly once). Returns the names applied.
 */
export function applyWeriftFixes(): string[] {
  const root = weriftRoot();
  const version = installedWeriftVersion(root);
  if (version !== WERIFT_VERSION) {
    throw new Error(
      `webrtc-oneway: werift ${version} is installed (${root}), but its fixes (src/werift) were written for ` +
        `werift ${WERIFT_VERSION}; install werift@${WERIFT_VERSION}.`,
    );
  }
  const { RTCPeerConnection } = weriftModule('webrtc/src/peerConnection.js');
  if (RTCPeerConnection[applied]) return RTCPeerConnection[applied] as string[];
  const names: string[] = [];
  for (const fix of WERIFT_FIXES) {
    try {
      fix.apply();
    } catch (err) {
      throw new Error(`webrtc-oneway: werift fix ${fix.name} could not be applied to werift ${version}: ${(err as Error).message}`);
    }
    names.push(fix.name);
  }
  Object.defineProperty(RTCPeerConnection, applied, { value: names });
  return names;
}

applyWeriftFixes();
