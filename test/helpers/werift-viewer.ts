// The viewer's werift gets the same fixes as the server's (no public STUN server, ...).
import '../../src/werift';
import {
  MediaStreamTrack,
  RTCDataChannel,
  RTCPeerConnection,
  RTCRtpTransceiver,
  RTCSessionDescription,
  RtpPacket,
} from 'werift';
import { SerialQueue } from '../../src/client/serial';
import type { ClientSocket } from '../../src/client/streaming-client';
import type {
  Ack,
  IceCandidateInit,
  SessionCandidateEvent,
  SessionOfferEvent,
  SessionState,
  SessionStateEvent,
} from '../../src/protocol';

/** A werift RTCPeerConnection playing the browser, kept on loopback. */
export function loopbackPeer(config: ConstructorParameters<typeof RTCPeerConnection>[0] = {}): RTCPeerConnection {
  return new RTCPeerConnection({
    ...config,
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host.startsWith('127.'),
  });
}

export async function request<T = object>(socket: ClientSocket, event: string, payload: unknown, timeoutMs = 10_000) {
  const s = socket.timeout(timeoutMs) as unknown as { emitWithAck(e: string, p: unknown): Promise<Ack<T>> };
  return s.emitWithAck(event, payload);
}

export async function ok<T = object>(socket: ClientSocket, event: string, payload: unknown): Promise<T> {
  const res = await request<T>(socket, event, payload);
  if (!res.ok) throw new Error(`${event} failed: ${res.error.code} ${res.error.message}`);
  return res as unknown as T;
}

function waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number, poke?: (cb: () => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      const v = check();
      if (v !== undefined && v !== false) {
        clearInterval(iv);
        clearTimeout(to);
        resolve(v);
      }
    };
    const iv = setInterval(done, 20);
    const to = setTimeout(() => {
      clearInterval(iv);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    poke?.(done);
    done();
  });
}

/**
 * A viewer: negotiates through the signalling socket, counts the video RTP it receives
 * (and keyframes), talks on the data channel, and records every session:state.
 */
export class WeriftViewer {
  readonly pc: RTCPeerConnection;
  sessionId = '';
  channel?: RTCDataChannel;
  readonly states: SessionStateEvent[] = [];
  readonly messages: string[] = [];
  packets = 0;
  /** Audio RTP packets received (a source with audio; not counted in `packets`). */
  audioPackets = 0;
  audioTrack?: MediaStreamTrack;
  tracks = 0;
  keyframes = 0;
  /**
   * Whether this viewer's picture began without a keyframe (it then sent its one PLI): the
   * server's first packets, the cached keyframe, were lost (see the join bench).
   */
  askedForKeyframe = false;
  firstPacketAt?: number;
  videoTrack?: MediaStreamTrack;
  /** Answer the server's renegotiation offers automatically. */
  autoAnswer = true;
  readonly serverOffers: string[] = [];
  readonly errors: Error[] = [];
  /** Signalling steps run one at a time, as a browser's operations chain does. */
  private readonly steps = new SerialQueue();
  private remoteQueue: (IceCandidateInit | null)[] = [];
  private localQueue: unknown[] = [];
  private early: (() => void)[] = [];
  private remoteSet = false;
  private readonly offHandlers: (() => void)[] = [];

  /** `pc`: a peer of one's own (e.g. `loopbackPeer({ codecs })`); default a loopback peer. */
  constructor(
    readonly socket: ClientSocket,
    pc?: RTCPeerConnection,
  ) {
    this.pc = pc ?? loopbackPeer();
    const onCandidate = (e: SessionCandidateEvent) => {
      if (!this.sessionId) return void this.early.push(() => onCandidate(e));
      if (e.sessionId !== this.sessionId) return;
      if (this.remoteSet) void this.addRemote(e.candidate);
      else this.remoteQueue.push(e.candidate);
    };
    // Events can overtake the handling of the start ack: hold them until the id is known.
    const onState = (e: SessionStateEvent) => {
      if (!this.sessionId) return void this.early.push(() => onState(e));
      if (e.sessionId === this.sessionId) this.states.push(e);
    };
    const onOffer = (e: SessionOfferEvent) => {
      if (!this.sessionId) return void this.early.push(() => onOffer(e));
      if (e.sessionId !== this.sessionId) return;
      this.serverOffers.push(e.offer.sdp);
      if (this.autoAnswer) void this.answerServerOffer(e.offer.sdp).catch((err: Error) => this.errors.push(err));
    };
    socket.on('session:candidate', onCandidate);
    socket.on('session:state', onState);
    socket.on('session:offer', onOffer);
    this.offHandlers.push(
      () => socket.off('session:candidate', onCandidate),
      () => socket.off('session:state', onState),
      () => socket.off('session:offer', onOffer),
    );
    this.pc.onIceCandidate.subscribe((c) => {
      const candidate = c ? c.toJSON() : null;
      if (this.sessionId) void request(socket, 'session:candidate', { sessionId: this.sessionId, candidate });
      else this.localQueue.push(candidate);
    });
    this.pc.onTrack.subscribe((track) => {
      if (track.kind === 'audio') {
        this.audioTrack = track;
        track.onReceiveRtp.subscribe(() => this.audioPackets++);
        return;
      }
      this.videoTrack = track;
      this.tracks++;
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        this.packets++;
        this.firstPacketAt ??= performance.now();
        // VP8 payload descriptor (4 bytes with PictureID as the server packetizes), then
        // the VP8 header: bit 0 of its first byte is 0 on a keyframe.
        const p = rtp.payload;
        const frameStart = p.length > 4 && (p[0] & 0x10) !== 0;
        if (frameStart && (p[4] & 0x01) === 0) this.keyframes++;
        // As a browser's decoder does: a picture that starts with no keyframe before it asks
        // for one (PLI), once. (The server now holds its first packets until this viewer's
        // first SCTP packet shows its DTLS handshake is done, src/werift/fixes/dtls-peer-confirmed.ts;
        // before that, a loaded werift viewer dropped the cached keyframe as early SRTP. A
        // viewer without a data channel is not waited for and may still miss it.)
        else if (frameStart && this.keyframes === 0 && !this.askedForKeyframe) {
          this.askedForKeyframe = true;
          const receiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track))?.receiver;
          void receiver?.sendRtcpPLI(rtp.header.ssrc).catch(() => undefined);
        }
      });
    });
    this.pc.onDataChannel.subscribe((ch) => this.attach(ch));
  }

  get state(): SessionState | undefined {
    return this.states[this.states.length - 1]?.state;
  }

  /** The client offers recvonly video (and audio) and a data channel (the aiortc example's flow). */
  startWithOffer(source?: string, opts: { audio?: boolean } = {}): Promise<void> {
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    if (opts.audio) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    return this.offerFirst(source);
  }

  /**
   * The client offers only the data channel (the browser client library with
   * `videoInOffer: false`); the server then adds the video with a renegotiation of its own.
   */
  startDataFirst(source?: string): Promise<void> {
    return this.offerFirst(source);
  }

  private offerFirst(source?: string): Promise<void> {
    return this.serial(async () => {
      this.attach(this.pc.createDataChannel('data'));
      const offer = await this.pc.createOffer();
      // werift resolves setLocalDescription only once gathering ends: do not wait for it.
      void this.pc.setLocalDescription(offer);
      const res = await ok<{ sessionId: string; answer: { sdp: string } }>(this.socket, 'session:start', {
        ...(source ? { source } : {}),
        offer: { type: 'offer', sdp: offer.sdp },
      });
      this.setSessionId(res.sessionId);
      await this.applyRemote(res.answer.sdp, 'answer');
    });
  }

  /** The server offers; we answer. */
  async startWithServerOffer(source?: string): Promise<void> {
    const res = await ok<{ sessionId: string; offer: { sdp: string } }>(
      this.socket,
      'session:start',
      source ? { source } : {},
    );
    this.setSessionId(res.sessionId);
    await this.answerServerOffer(res.offer.sdp);
  }

  answerServerOffer(sdp: string): Promise<void> {
    return this.serial(async () => {
      await this.applyRemote(sdp, 'offer');
      const answer = await this.pc.createAnswer();
      void this.pc.setLocalDescription(answer);
      await this.untilStable();
      await ok(this.socket, 'session:answer', { sessionId: this.sessionId, answer: { type: 'answer', sdp: answer.sdp } });
    });
  }

  /** Runs a signalling step after the previous ones. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    return this.steps.run(op);
  }

  private untilStable(): Promise<unknown> {
    return waitFor('stable signalling state', () => this.pc.signalingState === 'stable' || undefined, 5_000);
  }

  /** The next renegotiation offer from the server. */
  nextServerOffer(timeoutMs = 5_000): Promise<string> {
    const seen = this.serverOffers.length;
    return waitFor('a server offer', () => this.serverOffers[seen], timeoutMs);
  }

  waitForState(state: SessionState, timeoutMs = 10_000): Promise<SessionStateEvent> {
    return waitFor(`state ${state}`, () => this.states.find((s) => s.state === state), timeoutMs);
  }

  waitForPackets(n: number, timeoutMs = 10_000): Promise<number> {
    return waitFor(`${n} RTP packets (have ${this.packets})`, () => (this.packets >= n ? this.packets : undefined), timeoutMs);
  }

  waitForAudioPackets(n: number, timeoutMs = 10_000): Promise<number> {
    return waitFor(`${n} audio RTP packets (have ${this.audioPackets})`, () => (this.audioPackets >= n ? this.audioPackets : undefined), timeoutMs);
  }

  waitForChannelOpen(timeoutMs = 10_000): Promise<RTCDataChannel> {
    return waitFor('data channel open', () => (this.channel?.readyState === 'open' ? this.channel : undefined), timeoutMs);
  }

  /** Sends text and waits for a reply that satisfies `match`. */
  async roundTrip(text: string, match: (m: string) => boolean, timeoutMs = 5_000): Promise<string> {
    const channel = await this.waitForChannelOpen(timeoutMs);
    const seen = this.messages.length;
    channel.send(text);
    return waitFor(`reply to ${text}`, () => this.messages.slice(seen).find(match), timeoutMs);
  }

  get transceiver(): RTCRtpTransceiver | undefined {
    return this.pc.getTransceivers().find((t) => t.kind === 'video');
  }

  async close(): Promise<void> {
    for (const off of this.offHandlers.splice(0)) off();
    await this.pc.close();
  }

  private setSessionId(id: string): void {
    this.sessionId = id;
    for (const replay of this.early.splice(0)) replay();
    for (const candidate of this.localQueue.splice(0)) {
      void request(this.socket, 'session:candidate', { sessionId: id, candidate });
    }
  }

  private attach(ch: RTCDataChannel): void {
    this.channel ??= ch;
    ch.onMessage.subscribe((m) => this.messages.push(m.toString()));
  }

  private async applyRemote(sdp: string, type: 'offer' | 'answer'): Promise<void> {
    await this.pc.setRemoteDescription(new RTCSessionDescription(sdp, type));
    this.remoteSet = true;
    for (const c of this.remoteQueue.splice(0)) await this.addRemote(c);
  }

  private async addRemote(c: IceCandidateInit | null): Promise<void> {
    await this.pc.addIceCandidate(
      c ? ({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined } as never) : null,
    );
  }
}
