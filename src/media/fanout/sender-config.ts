import type { Socket } from 'node:dgram';
import { configEpoch, installConfigEpoch } from './config-epoch';
import { buildHeader, HeaderTemplate } from './header-template';
import { createProtector, RolloverCounter, SrtpProtector } from './srtp';
import { SenderStream } from './sender-stream';
import type { DtlsInternals, PairInternals, SenderInternals, SrtpInternals } from './werift-internals';

const NO_TEMPLATE: HeaderTemplate = { header: Buffer.alloc(0), absAt: -1, twccAt: -1 };

/**
 * Packets sent on a configuration checked once before a full check again, while the config
 * epoch stands still: what no hook sees (ICE consent expiring, a field werift changed outside
 * the hooked methods) is seen within this many packets (a quarter of a second at 125 pkt/s).
 */
export const FULL_CHECK_EVERY = 32;

let epochInstalled = false;

/**
 * What one viewer's lean path sends with, read from werift's sender and its transports:
 * keys (and the SRTP protector made from them), rollover counters, the nominated ICE pair
 * and its socket, payload types, SSRC and the header template. `sync()` compares what it
 * was read from by identity before each packet, so a renegotiation (payload type, extension
 * ids, mid), an ICE restart (the nominated pair) or a DTLS re-key (a new
 * `dtlsTransport.srtp`) is picked up at the next packet.
 */
export class SenderConfig {
  /** Configurations read (first one, renegotiation, ICE restart, DTLS re-key). */
  reconfigurations = 0;

  // What the current configuration was read from.
  dtls?: DtlsInternals;
  private srtp?: SrtpInternals;
  pair?: PairInternals;
  private connection?: DtlsInternals['iceTransport']['connection'];
  pt = -1;
  private exts?: SenderInternals['headerExtensions'];
  ssrc = -1;
  private mid?: string;
  rtxPt?: number;

  // Derived from it.
  protector?: SrtpProtector;
  /** The stream this sender keeps across feeds (rollover counters, last numbers sent). */
  readonly stream: SenderStream;
  template: HeaderTemplate = NO_TEMPLATE;
  socket?: Socket;
  transport?: { closed?: boolean };
  host = '';
  port = 0;
  /** Increases with every configuration (output buffers stamped with an older one are re-stamped). */
  generation = 0;

  /** The config epoch at the last full check that passed, and packets left before the next. */
  private checkedAt = -1;
  private fastLeft = 0;

  constructor(private readonly s: SenderInternals) {
    this.stream = SenderStream.of(s);
    if (!epochInstalled) {
      installConfigEpoch();
      epochInstalled = true;
    }
  }

  get mediaRoc(): RolloverCounter {
    return this.stream.mediaRoc;
  }

  get rtxRoc(): RolloverCounter {
    return this.stream.rtxRoc;
  }

  /** Whether werift's sender can send now; re-reads its configuration when it changed. */
  sync(): boolean {
    const s = this.s;
    const dtls = s.dtlsTransport;
    if (s.stopped || !s.codec || !dtls || dtls.state !== 'connected') return false;
    const srtp = dtls.srtp;
    // The ICE connection object stays the same for a transport (an ICE restart keeps it).
    const pair = (dtls === this.dtls ? this.connection! : dtls.iceTransport.connection).nominated;
    if (!srtp || !pair) return false;
    if (
      dtls !== this.dtls ||
      srtp !== this.srtp ||
      pair !== this.pair ||
      s.codec.payloadType !== this.pt ||
      s.headerExtensions !== this.exts ||
      s.ssrc !== this.ssrc ||
      s.mid !== this.mid ||
      s.rtxPayloadType !== this.rtxPt
    ) {
      this.configure(dtls, srtp, pair);
    }
    return this.protector !== undefined;
  }

  /**
   * `sync()` and ICE consent (RFC 7675): whether a packet may go out now. After a check that
   * passed, the next `FULL_CHECK_EVERY - 1` packets skip it while the config epoch stands still
   * (see config-epoch.ts): reading werift's objects per packet cost more than the rest of the
   * check. A check that fails is made again at every packet.
   */
  canSend(): boolean {
    if (this.fastLeft > 0 && this.checkedAt === configEpoch.value) {
      this.fastLeft--;
      return true;
    }
    const epoch = configEpoch.value;
    const ok = this.sync() && this.connection!.canSendApplicationData();
    this.checkedAt = epoch;
    this.fastLeft = ok ? FULL_CHECK_EVERY - 1 : 0;
    return ok;
  }

  /** Drops what holds keys and the socket. */
  clear(): void {
    this.fastLeft = 0;
    this.socket = undefined;
    // The native protector's keys and OpenSSL contexts go now, not at the next GC.
    this.protector?.close?.();
    this.protector = undefined;
  }

  private configure(dtls: DtlsInternals, srtp: SrtpInternals, pair: PairInternals): void {
    const s = this.s;
    this.reconfigurations++;
    if (srtp !== this.srtp || dtls !== this.dtls) {
      // New keys: a new SRTP context at the receiver too, so the rollover counters restart
      // (the same keys as the sender's last feed: they run on, see SenderStream).
      this.stream.useKeys(srtp);
      const c = srtp.localContext;
      this.protector?.close?.();
      try {
        this.protector = createProtector({
          profile: c.profile,
          key: c.srtpSessionKey,
          salt: c.srtpSessionSalt,
          authKey: c.srtpSessionAuthTag,
        });
      } catch {
        this.protector = undefined;
      }
    }
    this.dtls = dtls;
    this.connection = dtls.iceTransport.connection;
    this.srtp = srtp;
    this.pair = pair;
    this.pt = s.codec!.payloadType;
    this.exts = s.headerExtensions;
    this.ssrc = s.ssrc;
    this.mid = s.mid;
    this.rtxPt = s.rtxPayloadType;
    const udp = pair.protocol.type === 'stun' ? pair.protocol.transport : undefined;
    this.transport = udp;
    this.socket = udp?.socket;
    [this.host, this.port] = pair.remoteAddr;
    this.template = buildHeader(this.ssrc, this.pt, this.exts, this.mid);
    this.generation++;
  }
}
