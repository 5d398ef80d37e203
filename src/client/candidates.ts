import type { IceCandidateInit, SessionCandidateEvent } from '../protocol/index.js';
import type { ClientLink } from './client-types.js';

/** What a peer's candidate relay needs from its session. */
export interface CandidateHost {
  readonly pc: RTCPeerConnection;
  /** The server's session id ('' until the start ack). */
  readonly id: string;
  readonly closed: boolean;
}

/**
 * Trickle ICE for one peer connection, both ways: the server's candidates wait until a
 * remote description is set; ours wait until the server's session id is known.
 */
export class CandidateRelay {
  private readonly remoteQueue: (RTCIceCandidateInit | null)[] = [];
  private readonly localQueue: (IceCandidateInit | null)[] = [];
  private remoteSet = false;
  /** Whether any local candidate passed the candidate filter. */
  private localPassed = false;

  constructor(
    private readonly client: ClientLink,
    private readonly host: CandidateHost,
  ) {}

  /** A candidate the server sent. */
  remote(e: SessionCandidateEvent): void {
    const c = e.candidate
      ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
      : null;
    if (!this.remoteSet) this.remoteQueue.push(c);
    else void this.addRemote(c);
  }

  /** Applies the server's description, then the candidates that came before it. */
  async applyRemote(desc: RTCSessionDescriptionInit): Promise<void> {
    await this.host.pc.setRemoteDescription(desc);
    this.remoteSet = true;
    for (const c of this.remoteQueue.splice(0)) await this.addRemote(c);
  }

  /** The session id is known: send our candidates gathered before it. */
  idKnown(): void {
    for (const c of this.localQueue.splice(0)) this.send(c);
  }

  /** A candidate our peer connection gathered (null: the end of gathering). */
  local(c: RTCIceCandidate | null): void {
    const filter = this.client.options.candidateFilter;
    if (c && filter && !filter(c)) return;
    const init: IceCandidateInit | null = c
      ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment }
      : null;
    if (init && init.candidate === '') return; // Chromium's empty end-of-generation marker
    // When the filter let no candidate through, the server can only learn our address from
    // our connectivity checks (peer-reflexive). werift fails ICE at once if end-of-candidates
    // arrives while its check list is still empty, so do not announce it in that case.
    if (!init && filter && !this.localPassed) return;
    if (init) this.localPassed = true;
    if (!this.host.id) this.localQueue.push(init);
    else this.send(init);
  }

  private async addRemote(c: RTCIceCandidateInit | null): Promise<void> {
    try {
      await this.host.pc.addIceCandidate(c ?? undefined);
    } catch (err) {
      console.warn('remote candidate rejected', err);
    }
  }

  private send(c: IceCandidateInit | null): void {
    if (this.host.closed) return;
    this.client.request('session:candidate', { sessionId: this.host.id, candidate: c }).catch((err) => {
      console.warn('candidate not accepted', err);
    });
  }
}
