import type { CandidatePair } from 'werift';
import { DEFAULT_PEER_SILENCE_MS } from './peer-silence';

export interface IceServerOption {
  urls: string;
  username?: string;
  credential?: string;
}

/**
 * How the session service sets up werift. Provided by the application (the module never
 * reads the environment); every field has a default.
 */
export class SessionOptions {
  /** STUN/TURN servers werift uses. No public STUN server by default. */
  iceServers: IceServerOption[] = [];
  /**
   * Addresses announced as host candidates. When set, only these are announced (the
   * interfaces' own addresses are not): for NAT 1:1, containers, or loopback-only tests.
   */
  announcedAddresses?: string[];
  /** Local IPv4 address the UDP sockets bind to (default: all). */
  bindAddress?: string;
  /** UDP port range [min, max] for ICE. */
  portRange?: [number, number];
  /** Only remote candidates whose address passes are paired (tests keep traffic on loopback). */
  remoteAddressFilter?: (address: string) => boolean;
  /** A session that is not connected this long after it started is closed. */
  connectTimeoutMs = 20_000;
  /** A connection that stays `disconnected` this long is closed. */
  disconnectedGraceMs = 8_000;
  /**
   * A connected viewer from which nothing arrives this long (no RTCP, no ICE consent check:
   * its network went silent while its socket.io connection stays up) is closed, reason
   * `peer-silent`. At least 15 s while no video streams (then only consent checks come). 0: off.
   */
  peerSilenceMs = DEFAULT_PEER_SILENCE_MS;
  /** A renegotiation whose answer does not arrive in time is rolled back. */
  negotiationTimeoutMs = 10_000;
  /** Most sessions one socket may hold at once. */
  maxSessionsPerClient = 4;
  /** Most sessions this node holds at once (every client together). */
  maxSessions = Number.POSITIVE_INFINITY;
  /**
   * How long `start` waits for the first local ICE candidate. werift reports no error when
   * no UDP port is free (an exhausted `portRange`): gathering just ends with no candidate,
   * and the start then fails with CAPACITY_EXCEEDED instead of sending a useless SDP.
   */
  candidateCheckMs = 3_000;
  /**
   * The DTLS certificate is one per process; a new one is made for connections started
   * after it is this old (browsers, too, keep theirs for days).
   */
  certificateRotationMs = 24 * 60 * 60 * 1000;
  /** Answer `ping` with `pong` on the data channel. */
  dataChannelPing = true;
  /**
   * How video reaches each viewer: `lean` (default) patches a prebuilt header, encrypts with
   * reused node:crypto objects and sends on the ICE socket, beside werift's session (see
   * src/media/fanout); `werift` writes every packet to werift's track (werift's own send path:
   * about 5x the CPU per viewer). NACK, PLI, sender reports and consent work on both.
   */
  sendPath: 'lean' | 'werift' = 'lean';
  /**
   * Media worker threads that run the sessions' peer connections and send paths (src/workers),
   * so that one process uses several cores; each new session goes to the least-loaded one.
   * 0: every session on the main thread (single-thread mode).
   */
  mediaWorkers = 0;

  static from(partial: Partial<SessionOptions> = {}): SessionOptions {
    return Object.assign(new SessionOptions(), partial);
  }
}

/** werift's RTCPeerConnection options derived from SessionOptions. */
export function weriftIceConfig(o: SessionOptions) {
  const announced = o.announcedAddresses?.length ? o.announcedAddresses : undefined;
  return {
    iceServers: o.iceServers,
    // max-compat leaks a UDP socket per host address per session after close().
    bundlePolicy: 'max-bundle' as const,
    icePortRange: o.portRange,
    ...(announced ? { iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: announced } : {}),
    ...(o.bindAddress ? { iceInterfaceAddresses: { udp4: o.bindAddress } } : {}),
    ...(o.remoteAddressFilter
      ? {
          iceFilterCandidatePair: (pair: CandidatePair) => o.remoteAddressFilter!(pair.remoteCandidate.host),
        }
      : {}),
  };
}
