import type { Logger } from '@nestjs/common';
import type { RTCPeerConnection } from 'werift';
import type { Session } from './session';

type IceTransport = RTCPeerConnection['iceTransports'][number];

/**
 * Closes every ICE transport a session's peer connection ever had, not only those it holds
 * when it closes. werift's `close()` stops the transports of its current transceivers and
 * data channel; a renegotiation offer that renames or drops a mid (mutated SDP) moves a
 * transceiver to a new transport, and the old one, with its UDP socket, is no longer
 * anybody's. And a transport still gathering when it is closed binds its socket after the
 * close: it is closed again once gathering is over.
 */
export class TransportSweeper {
  /**
   * With max-bundle a session needs one ICE transport (two at most for a while during a
   * renegotiation). An offer whose m-lines BUNDLE does not name makes werift open one per
   * m-line, and offer after offer of new mids would pile them up: past this, the session is
   * closed.
   */
  static readonly MAX_TRANSPORTS = 3;

  private readonly seen = new WeakMap<Session, Set<IceTransport>>();

  constructor(private readonly log: Logger) {}

  /**
   * After each negotiation step: remembers the session's current transports, and closes
   * those it had before and has no more (nobody else will; a client that renames its mids
   * in offer after offer would otherwise pile up sockets while its session lives).
   */
  track(session: Session): number {
    let set = this.seen.get(session);
    if (!set) this.seen.set(session, (set = new Set()));
    const current = new Set(session.peerConnection.iceTransports);
    for (const t of set) {
      if (current.has(t)) continue;
      set.delete(t);
      void this.closeWhenGathered(t);
    }
    for (const t of current) set.add(t);
    return current.size;
  }

  /** After the session closed: closes each transport now, and again when its gathering ends. */
  sweep(session: Session): void {
    const set = this.seen.get(session);
    this.seen.delete(session);
    for (const t of set ?? []) void this.closeWhenGathered(t);
  }

  private async closeWhenGathered(t: IceTransport): Promise<void> {
    const connection = t.connection as unknown as { localCandidatesStart?: boolean; localCandidatesEnd?: boolean; close(): Promise<void> };
    try {
      await t.stop();
      for (let waited = 0; connection.localCandidatesStart && !connection.localCandidatesEnd && waited < 30_000; waited += 100) {
        await new Promise((r) => setTimeout(r, 100).unref());
      }
      await connection.close();
    } catch (err) {
      this.log.warn(`closing an ICE transport: ${(err as Error).message}`);
    }
  }
}
