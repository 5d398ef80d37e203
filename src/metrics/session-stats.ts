import type { RTCRtpSender } from 'werift';
import type { Session } from '../session/session';

/** werift's own sender counters (read, never hooked: the send path stays untouched). */
export interface SenderCounters {
  packets: number;
  bytes: number;
  nacks: number;
  retransmits: number;
}

interface WeriftSenderCounters {
  packetCount?: number;
  octetCount?: number;
  nackCount?: number;
  retransmittedPacketsSent?: number;
}

export function senderCounters(sender: RTCRtpSender): SenderCounters {
  const s = sender as unknown as WeriftSenderCounters;
  return {
    packets: s.packetCount ?? 0,
    bytes: s.octetCount ?? 0,
    nacks: s.nackCount ?? 0,
    retransmits: s.retransmittedPacketsSent ?? 0,
  };
}

/** The session's senders (every video transceiver it has had, stopped ones included). */
export function sendersOf(session: Session): RTCRtpSender[] {
  return session.peerConnection.getTransceivers().map((t) => t.sender);
}

export function sessionCounters(session: Session): SenderCounters {
  const total: SenderCounters = { packets: 0, bytes: 0, nacks: 0, retransmits: 0 };
  for (const sender of sendersOf(session)) {
    const c = senderCounters(sender);
    total.packets += c.packets;
    total.bytes += c.bytes;
    total.nacks += c.nacks;
    total.retransmits += c.retransmits;
  }
  return total;
}

/** `whep` or `socket.io`: how the session was signalled. */
export function transportOf(ownerId: string): 'whep' | 'socket.io' {
  return ownerId.startsWith('whep:') ? 'whep' : 'socket.io';
}

/** One session as `GET /admin/sessions` shows it. */
export interface SessionStatsEntry {
  id: string;
  transport: 'whep' | 'socket.io';
  source: string;
  state: string;
  connection: string;
  /** The peer's address and port on the selected candidate pair, once connected. */
  remote?: string;
  rtp: SenderCounters;
  pictureLoss: Session['pictureLoss'];
}

export function sessionStats(session: Session): SessionStatsEntry {
  return {
    id: session.id,
    transport: transportOf(session.ownerId),
    source: session.source.id,
    state: session.state,
    connection: session.peerConnection.connectionState,
    ...remoteOf(session),
    rtp: sessionCounters(session),
    pictureLoss: { ...session.pictureLoss },
  };
}

function remoteOf(session: Session): { remote?: string } {
  try {
    const transport = session.peerConnection.dtlsTransports[0]?.iceTransport as unknown as {
      connection?: { nominated?: { remoteCandidate?: { host: string; port: number } } };
    };
    const c = transport?.connection?.nominated?.remoteCandidate;
    return c ? { remote: `${c.host}:${c.port}` } : {};
  } catch {
    return {};
  }
}
