import type { SenderCounters, SessionSummary } from '../session/session-view';

export type { SenderCounters } from '../session/session-view';

/** The sum of a session's sender counters. */
export function sessionCounters(summary: SessionSummary): SenderCounters {
  const total: SenderCounters = { packets: 0, bytes: 0, nacks: 0, retransmits: 0 };
  for (const c of summary.senders) {
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
  pictureLoss: SessionSummary['pictureLoss'];
}

export function sessionStats(s: SessionSummary): SessionStatsEntry {
  return {
    id: s.id,
    transport: transportOf(s.ownerId),
    source: s.source,
    state: s.state,
    connection: s.connection,
    ...(s.remote ? { remote: s.remote } : {}),
    rtp: sessionCounters(s),
    pictureLoss: s.pictureLoss,
  };
}
