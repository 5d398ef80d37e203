import type { Logger } from '@nestjs/common';
import { RTCPeerConnection, RTCSessionDescription } from 'werift';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode, SessionDescriptionAnswer, SessionDescriptionOffer } from '../protocol';
import * as sdp from '../sdp/sdp';

/** What the negotiation needs from its session. */
export interface NegotiationHost {
  isClosed(): boolean;
  readonly log: Logger;
  /** A server offer to send to the client, which must answer it. */
  offer(offer: SessionDescriptionOffer): void;
  /** Applying our own description failed: the session cannot go on. */
  failed(): void;
  after(ms: number, fn: () => void): NodeJS.Timeout;
  clearTimer(t: NodeJS.Timeout): void;
}

/**
 * A session's SDP exchange: the queue that runs server-side negotiations (stop, resume) one
 * at a time, the server's own offers and their answers (with a rollback on failure), and the
 * check that an answer matches the offer it answers.
 */
export class Negotiation {
  /** Negotiations the server runs go one at a time through this chain. */
  private chain: Promise<unknown> = Promise.resolve();
  /** The server's renegotiation offer that awaits the client's answer. */
  private awaitingAnswer?: { resolve: (a: SessionDescriptionAnswer) => void; reject: (e: Error) => void };
  /** The SDP of the last offer we sent, to check answers against. */
  private lastOfferSdp?: string;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly timeoutMs: number,
    private readonly host: NegotiationHost,
  ) {}

  /** Whether a server offer waits for the client's answer. */
  get awaiting(): boolean {
    return this.awaitingAnswer !== undefined;
  }

  /** Runs server-side negotiations one after another. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.host.isClosed()) throw new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'the session is closed');
      return op();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * The client's answer. Returns true when it answers a renegotiation, which the operation
   * that offered applies; false when the caller applies it (the first negotiation).
   */
  takeAnswer(answer: SessionDescriptionAnswer): boolean {
    if (this.pc.signalingState !== 'have-local-offer') {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'no offer from the server is waiting for an answer');
    }
    // werift accepts an answer with fewer m-lines than the offer, then fails ICE: refuse it.
    if (this.lastOfferSdp !== undefined && sdp.mediaCount(this.lastOfferSdp) !== sdp.mediaCount(answer.sdp)) {
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the answer does not match the offer (m-line count)');
    }
    const waiting = this.awaitingAnswer;
    if (!waiting) return false;
    this.awaitingAnswer = undefined;
    waiting.resolve(answer);
    return true;
  }

  async applyRemote(desc: SessionDescriptionOffer | SessionDescriptionAnswer): Promise<void> {
    try {
      await this.pc.setRemoteDescription(new RTCSessionDescription(desc.sdp, desc.type));
    } catch (err) {
      // werift's message may quote the SDP: logged here, never sent back (protocol.md).
      this.host.log.debug(`the ${desc.type} could not be applied: ${(err as Error).message}`);
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, `the ${desc.type} could not be applied`);
    }
  }

  /**
   * Creates the local description and returns it before applying it: werift's
   * setLocalDescription resolves only when gathering ends, and candidates trickle anyway.
   */
  async createLocal(type: 'offer' | 'answer'): Promise<SessionDescriptionOffer | SessionDescriptionAnswer> {
    let desc: RTCSessionDescription;
    try {
      desc = type === 'offer' ? await this.pc.createOffer() : await this.pc.createAnswer();
    } catch (err) {
      this.host.log.debug(`could not create an ${type}: ${(err as Error).message}`);
      throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, `could not create an ${type} for this offer`);
    }
    if (type === 'offer') this.lastOfferSdp = desc.sdp;
    this.pc.setLocalDescription(desc).catch((err: Error) => {
      this.host.log.warn(`setLocalDescription(${type}) failed: ${err.message}`);
      this.host.failed();
    });
    return { type, sdp: desc.sdp } as SessionDescriptionOffer | SessionDescriptionAnswer;
  }

  /**
   * The server offers (after a stop or a resume) and waits for the client's answer. On
   * timeout or failure the offer is rolled back, so the session stays consistent and the
   * data channel keeps working; the caller reports the error.
   */
  async renegotiate(): Promise<void> {
    // Our answer may still be being applied (werift sets it after a tick).
    if (this.pc.signalingState === 'have-remote-offer') await this.waitForStable(1000);
    if (this.pc.signalingState !== 'stable') {
      throw new StreamingError(ErrorCode.INVALID_STATE, 'a negotiation is already in progress');
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const answer = new Promise<SessionDescriptionAnswer>((resolve, reject) => {
      this.awaitingAnswer = { resolve, reject };
    });
    const timer = this.host.after(this.timeoutMs, () => {
      this.awaitingAnswer?.reject(new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the client did not answer in time'));
      this.awaitingAnswer = undefined;
    });
    this.lastOfferSdp = offer.sdp;
    this.host.offer({ type: 'offer', sdp: offer.sdp });
    try {
      await this.applyRemote(await answer);
    } catch (err) {
      this.awaitingAnswer = undefined;
      if (!this.host.isClosed() && (this.pc.signalingState as string) === 'have-local-offer') {
        await this.pc.setLocalDescription({ type: 'rollback' } as never).catch((e: Error) => {
          this.host.log.warn(`rollback failed: ${e.message}`);
        });
      }
      throw err;
    } finally {
      this.host.clearTimer(timer);
    }
  }

  /** The session closed: an offer still waiting for its answer fails. */
  close(): void {
    this.awaitingAnswer?.reject(new StreamingError(ErrorCode.SESSION_NOT_FOUND, 'the session closed'));
    this.awaitingAnswer = undefined;
  }

  private waitForStable(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const sub = this.pc.signalingStateChange.subscribe((s) => s === 'stable' && done());
      function done() {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  }
}
