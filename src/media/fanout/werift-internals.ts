import type { Socket } from 'node:dgram';

/**
 * The parts of werift's objects the lean path reads (werift 0.25.2; most are not in its
 * public typings). See /work/shared/notes/fanout-performance.md, "The design".
 */
export interface SenderInternals {
  ssrc: number;
  rtxSsrc: number;
  rtxPayloadType?: number;
  rtxSequenceNumber: number;
  mid?: string;
  stopped: boolean;
  codec?: { payloadType: number; clockRate?: number };
  headerExtensions: { uri: string; id: number }[];
  dtlsTransport?: DtlsInternals;
  packetCount: number;
  octetCount: number;
  headerBytesSent: number;
  rtpTimestamp: number;
  ntpTimestamp: bigint;
  retransmittedPacketsSent: number;
  retransmittedBytesSent: number;
  /** Round-trip time from the receiver reports (seconds), once known. */
  rtt?: number;
  onGenericNack: { subscribe(fn: (f: { lost: number[] }) => void): { unSubscribe(): void } };
  runRtcp(): Promise<void>;
}

export interface DtlsInternals {
  state: string;
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  config: { debug?: { outboundPacketLoss?: number } };
  srtp?: SrtpInternals;
  iceTransport: { connection: IceConnectionInternals };
}

export interface SrtpInternals {
  localContext: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
}

export interface IceConnectionInternals {
  nominated?: PairInternals;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}

export interface PairInternals {
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
  protocol: { type: string; transport?: { socket?: Socket; closed?: boolean } };
}
