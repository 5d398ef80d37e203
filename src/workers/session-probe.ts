import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import type { Session } from '../session/session';

/**
 * Tests only: what a test does to a session's werift objects, as one value, so that it can be
 * done where the session runs. On one thread the test calls `probeSession` itself; a session in
 * a media worker gets it as a call (`RemoteSession.probe`), since werift's objects (and their
 * sockets) cannot leave the worker. Nothing in the service calls this.
 */
export type SessionProbe =
  /** werift's `debug.outboundPacketLoss` (inverted: 95 sends about 95 %); undefined: no loss. */
  | { action: 'outbound-loss'; sendPercent?: number }
  /** Makes werift's ICE sockets drop what werift sends (STUN, DTLS, SCTP; the lean media path is not werift's send), or undoes it. */
  | { action: 'silence-ice'; silent: boolean }
  /** The video sender's counters that werift keeps. */
  | { action: 'video-sender' }
  /** Sends `count` forged SRTP packets (the video sender's SSRC, a random tag) to the viewer on the nominated pair. */
  | { action: 'forge-srtp'; count: number };

export interface VideoSenderProbe {
  retransmittedPacketsSent: number;
  rtxPayloadType?: number;
  ssrc: number;
}

type IceSend = (...a: unknown[]) => Promise<void>;
interface IceProtocol {
  transport: { send: IceSend };
}
interface SenderInternals {
  ssrc: number;
  retransmittedPacketsSent: number;
  rtxPayloadType?: number;
  dtlsTransport: {
    iceTransport: { connection: { nominated?: { remoteAddr: [string, number]; protocol: { transport: { socket: Socket } } } } };
  };
}

/** The sends `silence-ice` replaced, per session, to put back. */
const silenced = new WeakMap<Session, { protocol: IceProtocol; send: IceSend }[]>();

export function probeSession(session: Session, probe: SessionProbe): VideoSenderProbe | undefined {
  const pc = session.peerConnection;
  switch (probe.action) {
    case 'outbound-loss':
      (pc as unknown as { config: { debug?: object } }).config.debug = probe.sendPercent === undefined ? {} : { outboundPacketLoss: probe.sendPercent };
      return undefined;
    case 'silence-ice': {
      const before = silenced.get(session);
      if (!probe.silent) {
        for (const { protocol, send } of before ?? []) protocol.transport.send = send;
        silenced.delete(session);
        return undefined;
      }
      if (before) return undefined;
      const protocols = (pc as unknown as { iceTransports: { connection: { protocols: IceProtocol[] } }[] }).iceTransports.flatMap((t) => t.connection.protocols);
      silenced.set(
        session,
        protocols.map((protocol) => ({ protocol, send: protocol.transport.send })),
      );
      for (const p of protocols) p.transport.send = async () => undefined;
      return undefined;
    }
    case 'video-sender': {
      const s = videoSender(session);
      return { retransmittedPacketsSent: s.retransmittedPacketsSent, ...(s.rtxPayloadType !== undefined ? { rtxPayloadType: s.rtxPayloadType } : {}), ssrc: s.ssrc >>> 0 };
    }
    case 'forge-srtp': {
      const s = videoSender(session);
      const pair = s.dtlsTransport.iceTransport.connection.nominated;
      if (!pair) throw new Error('no nominated ICE pair');
      const forged = randomBytes(200);
      forged[0] = 0x80;
      forged[1] = 96;
      forged.writeUInt32BE(s.ssrc >>> 0, 8);
      for (let i = 0; i < probe.count; i++) pair.protocol.transport.socket.send(forged, pair.remoteAddr[1], pair.remoteAddr[0]);
      return undefined;
    }
  }
}

function videoSender(session: Session): SenderInternals {
  const t = session.peerConnection.getTransceivers().find((x) => x.kind === 'video');
  if (!t) throw new Error('no video transceiver');
  return t.sender as unknown as SenderInternals;
}
