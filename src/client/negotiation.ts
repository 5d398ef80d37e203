import { DATA_CHANNEL_LABEL } from '../protocol/index.js';
import { ClientLink, StartOptions, StreamingClientError } from './client-types.js';
import type { CandidateRelay } from './candidates.js';
import { SerialQueue } from './serial.js';

/** What the negotiation needs from its session. */
export interface NegotiationHost {
  /** The current peer connection and its candidate relay (a session restart replaces both). */
  readonly pc: RTCPeerConnection;
  readonly candidates: CandidateRelay;
  readonly id: string;
  readonly closed: boolean;
  setId(id: string): void;
  attachChannel(ch: RTCDataChannel): void;
}

/** A session's offers and answers, one at a time (an offer from the server waits for ours). */
export class Negotiation {
  private readonly steps = new SerialQueue();

  constructor(
    private readonly client: ClientLink,
    private readonly opts: StartOptions,
    private readonly host: NegotiationHost,
  ) {}

  /** Starts a server session (a new one after a restart); resolves with its id. */
  start(): Promise<string> {
    const { client, opts, host } = this;
    return this.steps.run(async () => {
      if ((opts.offerer ?? 'client') === 'client') {
        // The data channel's m-line must own the BUNDLE transport (the tag: the first mid),
        // so that it survives a video stop: Chromium and Firefox replace the whole transport
        // when the tag's m-line is rejected. So the data channel is set alone in a first
        // local offer, which fixes its m-line first (in one offer made with both, browsers
        // put the data channel last), and the recvonly video is added to a second one, the
        // one sent: the server answers with the video at once (docs/protocol.md). With
        // `videoInOffer: false` only the data channel is offered and the server adds the
        // video in a second negotiation.
        host.attachChannel(host.pc.createDataChannel(DATA_CHANNEL_LABEL));
        await host.pc.setLocalDescription(await host.pc.createOffer());
        if (opts.videoInOffer ?? true) {
          host.pc.addTransceiver('video', { direction: 'recvonly' });
          // The sound too: the server answers it sendonly when the source has audio and
          // rejects it (port 0) when not; it adds no m-line to an answer of its own.
          host.pc.addTransceiver('audio', { direction: 'recvonly' });
          await host.pc.setLocalDescription(await host.pc.createOffer());
        }
        const res = await client.request('session:start', {
          ...(opts.source ? { source: opts.source } : {}),
          offer: { type: 'offer', sdp: host.pc.localDescription!.sdp },
        });
        host.setId(res.sessionId);
        if (!('answer' in res)) throw new StreamingClientError('NEGOTIATION_FAILED', 'the server did not answer');
        await host.candidates.applyRemote(res.answer);
        return host.id;
      }
      const res = await client.request('session:start', opts.source ? { source: opts.source } : {});
      host.setId(res.sessionId);
      if (!('offer' in res)) throw new StreamingClientError('NEGOTIATION_FAILED', 'the server sent no offer');
      await this.answer(res.offer);
      return host.id;
    });
  }

  /**
   * Makes a local change and offers it. We are the polite peer: when the server's own offer
   * is out, the server refuses ours with INVALID_STATE; we answer its offer (queued behind
   * this step) and try again.
   */
  async change(change: () => boolean, attempts = 3): Promise<void> {
    const host = this.host;
    for (let i = 0; i < attempts; i++) {
      const retry = await this.steps.run(async () => {
        if (host.closed || !change()) return false;
        await host.pc.setLocalDescription(await host.pc.createOffer());
        try {
          const res = await this.client.request('session:offer', {
            sessionId: host.id,
            offer: { type: 'offer', sdp: host.pc.localDescription!.sdp },
          });
          await host.candidates.applyRemote(res.answer);
          return false;
        } catch (err) {
          await host.pc.setLocalDescription({ type: 'rollback' });
          if (err instanceof StreamingClientError && err.code === 'INVALID_STATE') return true;
          throw err;
        }
      });
      if (!retry) return;
      await new Promise((r) => setTimeout(r, 50 * (i + 1)));
    }
    throw new StreamingClientError('INVALID_STATE', 'the server kept renegotiating; try again');
  }

  /** A renegotiation the server started. */
  onOffer(offer: RTCSessionDescriptionInit): Promise<void> {
    return this.steps.run(() => this.answer(offer)).catch((err) => {
      console.warn('could not answer the server offer', err);
    });
  }

  /** Forgets the steps still queued (the session restarts on a new peer connection). */
  reset(): void {
    this.steps.reset();
  }

  private async answer(offer: RTCSessionDescriptionInit): Promise<void> {
    const host = this.host;
    await host.candidates.applyRemote(offer);
    await host.pc.setLocalDescription(await host.pc.createAnswer());
    await this.client.request('session:answer', {
      sessionId: host.id,
      answer: { type: 'answer', sdp: host.pc.localDescription!.sdp },
    });
  }
}
