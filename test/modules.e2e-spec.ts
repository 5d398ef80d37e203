import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import { SubscribeMessage } from '@nestjs/websockets';
import { Test, TestingModule } from '@nestjs/testing';
import { RTCPeerConnection, RTCSessionDescription, RtpPacket, Vp8Packetizer } from 'werift';
import { StreamingError } from '../src/common/streaming-error';
import { MediaSource } from '../src/media/media-source';
import {
  ErrorCode,
  IceCandidateInit,
  SessionCandidateEvent,
  SessionStartRequest,
  SessionStartResult,
  SessionStateEvent,
} from '../src/protocol';
import { SessionModule } from '../src/session/session.module';
import { SessionOptions } from '../src/session/session.options';
import { SessionService } from '../src/session/session.service';
import { SignallingGateway } from '../src/signalling/signalling.gateway';
import { LOOPBACK_ONLY, TestApp, startApp } from './helpers/app';
import { WeriftViewer, loopbackPeer, ok, request } from './helpers/werift-viewer';
import { until } from './helpers/wait';

/**
 * Each of the three modules (media, session, signalling) can be replaced without touching
 * the others: one test per module, on the real application where one exists.
 */


/** A media source that publishes synthetic VP8 frames when told to, and remembers every payload. */
class SyntheticVp8Source extends MediaSource {
  readonly id = 'fake';
  readonly kind = 'synthetic';
  readonly codec = 'VP8' as const;
  /** Every RTP payload published, in order. */
  readonly published: Buffer[] = [];
  private readonly packetizer = new Vp8Packetizer({ payloadType: 96 });
  private rtpTimestamp = 123_456;
  private frameNo = 0;
  started = 0;
  stopped = 0;

  protected start(): void {
    this.started++;
    // A group of pictures before anyone watches: a viewer gets it from the keyframe cache.
    this.frame(true, 2500); // several packets
    this.frame(false, 300);
    this.frame(false, 300);
  }

  protected stop(): void {
    this.stopped++;
  }

  /** Publishes one frame; a keyframe has bit 0 of its first byte clear (RFC 6386 9.1). */
  frame(keyframe: boolean, size: number): void {
    const n = this.frameNo++;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (n * 31 + i * 7) & 0xff;
    data[0] = keyframe ? 0x10 : 0x11;
    const packets = this.packetizer.packetize(data, this.rtpTimestamp);
    this.rtpTimestamp = (this.rtpTimestamp + 3000) >>> 0;
    packets.forEach((p, i) => {
      this.published.push(Buffer.from(p.payload));
      this.publish(p, keyframe && i === 0);
    });
  }
}

describe('replaceable modules', () => {
  let t: TestApp | undefined;
  let moduleRef: TestingModule | undefined;
  const viewers: WeriftViewer[] = [];
  const peers: RTCPeerConnection[] = [];

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    for (const pc of peers.splice(0)) await pc.close();
    await t?.close();
    t = undefined;
    await moduleRef?.close();
    moduleRef = undefined;
  });

  async function viewer(app: TestApp): Promise<WeriftViewer> {
    const v = new WeriftViewer(await app.connect());
    viewers.push(v);
    return v;
  }

  it('media: a MediaSource subclass provided in place of the default is what viewers receive, payload for payload', async () => {
    const source = new SyntheticVp8Source();
    t = await startApp({ source });
    expect(source.started).toBe(1);
    expect(t.app.get(MediaSource)).toBe(source);

    const v = await viewer(t);
    const received: Buffer[] = [];
    v.pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp: RtpPacket) => received.push(Buffer.from(rtp.payload))));
    // The built-in source is gone: only the replacement can be asked for.
    const s = await t.connect();
    await expect(request(s, 'session:start', { source: 'test' })).resolves.toMatchObject({
      ok: false,
      error: { code: ErrorCode.SOURCE_NOT_FOUND },
    });

    await v.startWithOffer('fake');
    await v.waitForState('streaming');
    const cached = source.published.length;
    await v.waitForPackets(cached);

    // Then live frames, including a new keyframe.
    source.frame(false, 1800);
    source.frame(true, 4000);
    source.frame(false, 10);
    await v.waitForPackets(source.published.length);

    expect(received.map((b) => b.toString('hex'))).toEqual(source.published.map((b) => b.toString('hex')));
    // The first thing the viewer got is the start of the keyframe.
    expect(received[0][0] & 0x10).toBe(0x10); // S bit of the VP8 payload descriptor
    expect(received[0][4] & 0x01).toBe(0); // keyframe
    expect(v.keyframes).toBe(2);
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  });

  it('session: the gateway drives whatever SessionService is provided (results, errors and events)', async () => {
    const CANNED: SessionStartResult = {
      sessionId: '7f1d9f0e-1c2b-4a3d-8e4f-5a6b7c8d9e0f',
      offer: { type: 'offer', sdp: 'v=0\r\ncanned-by-the-fake\r\n' },
    };
    const fake = {
      events: new EventEmitter(),
      start: jest.fn(async (_ownerId: string, _req: SessionStartRequest): Promise<SessionStartResult> => CANNED),
      close: jest.fn(),
      closeAllOf: jest.fn((_ownerId: string, _reason: string) => 0),
      drain: jest.fn((_reason?: string) => 0),
      count: 0,
      // The gateway acts through the owner-scoped view.
      ownedBy: (ownerId: string) => ({
        start: (req: SessionStartRequest) => fake.start(ownerId, req),
        closeAll: (reason: string) => fake.closeAllOf(ownerId, reason),
      }),
    };
    t = await startApp({ customize: (b) => b.overrideProvider(SessionService).useValue(fake) });
    const s = await t.connect();
    const other = await t.connect();

    // The ack carries the fake's result.
    expect(await request(s, 'session:start', { source: 'anything' })).toEqual({ ok: true, ...CANNED });
    expect(fake.start).toHaveBeenCalledTimes(1);
    expect(fake.start.mock.calls[0][0]).toBe(s.id);
    expect(fake.start.mock.calls[0][1]).toEqual({ source: 'anything' });

    // And its errors, code and message as thrown.
    fake.start.mockRejectedValueOnce(new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'the fake is full'));
    expect(await request(s, 'session:start', {})).toEqual({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED, message: 'the fake is full' },
    });
    // Anything else is INTERNAL, without the details.
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    fake.start.mockRejectedValueOnce(new Error('/secret/path exploded'));
    expect(await request(s, 'session:start', {})).toEqual({
      ok: false,
      error: { code: ErrorCode.INTERNAL, message: 'internal error' },
    });
    // ...which the server logs instead.
    expect(logged.mock.calls.some(([m]) => String(m).includes('/secret/path exploded'))).toBe(true);
    logged.mockRestore();

    // Its events reach the owner's socket only.
    const got: SessionStateEvent[] = [];
    const leaked: SessionStateEvent[] = [];
    s.on('session:state', (e) => got.push(e));
    other.on('session:state', (e) => leaked.push(e));
    const ev: SessionStateEvent = { sessionId: CANNED.sessionId, state: 'streaming' };
    fake.events.emit('state', s.id, ev);
    await until('the state event arrives', () => got.length === 1);
    expect(got).toEqual([ev]);
    // A round trip on the other socket: had the event leaked, it would be there by now.
    await request(other, 'session:nope', {});
    expect(leaked).toEqual([]);

    // A socket that goes away is reported to it.
    const id = s.id;
    s.disconnect();
    await until('closeAllOf is called', () => fake.closeAllOf.mock.calls.length > 0);
    expect(fake.closeAllOf).toHaveBeenCalledWith(id, 'client-disconnected');
  });

  it('session: its SessionOptions provider can be overridden too (maxSessionsPerClient: 1)', async () => {
    t = await startApp({
      customize: (b) =>
        b.overrideProvider(SessionOptions).useValue(SessionOptions.from({ ...LOOPBACK_ONLY, maxSessionsPerClient: 1 })),
    });
    const s = await t.connect();
    await ok(s, 'session:start', {});
    expect(await request(s, 'session:start', {})).toEqual({
      ok: false,
      error: { code: ErrorCode.CAPACITY_EXCEEDED, message: expect.any(String) },
    });
    // Per client: another socket still gets one.
    await ok(await t.connect(), 'session:start', {});
    expect(t.app.get(SessionService).count).toBe(2);
  });

  it('signalling: the gateway provider can be overridden (a subclass with a handler of its own)', async () => {
    class CustomGateway extends SignallingGateway {
      @SubscribeMessage('sources:list')
      override async sourcesList(): Promise<{ ok: true; sources: never[]; from: string }> {
        return { ok: true, sources: [], from: 'custom-gateway' };
      }
    }
    t = await startApp({ customize: (b) => b.overrideProvider(SignallingGateway).useClass(CustomGateway) });
    expect(t.app.get(SignallingGateway)).toBeInstanceOf(CustomGateway);
    const s = await t.connect();
    expect(await request(s, 'sources:list', {})).toEqual({ ok: true, sources: [], from: 'custom-gateway' });
    // Everything else is the inherited gateway, on the real SessionService.
    await ok(s, 'session:start', {});
    expect(t.app.get(SessionService).count).toBe(1);
  });

  it('every provider is declared in exactly one module of the graph', async () => {
    t = await startApp();
    const container = (t.app as unknown as { container: { getModules(): Map<string, { name: string; providers: Map<unknown, unknown> }> } }).container;
    const owners = new Map<unknown, string[]>();
    for (const m of container.getModules().values()) {
      for (const token of m.providers.keys()) {
        if (typeof token === 'function' && /^(ModuleRef|ApplicationConfig|Reflector|HttpAdapterHost|LazyModuleLoader|ExternalContextCreator|ModulesContainer|SerializedGraph|InquirerClass|Inquirer|REQUEST)$/.test(token.name)) continue;
        if (token === m.name || (typeof token === 'function' && token.name === m.name)) continue; // the module class itself
        owners.set(token, [...(owners.get(token) ?? []), m.name]);
      }
    }
    for (const token of [MediaSource, SessionService, SessionOptions, SignallingGateway]) expect(owners.get(token)).toHaveLength(1);
    const twice = [...owners].filter(([, mods]) => mods.length > 1).map(([tok, mods]) => `${String((tok as { name?: string }).name ?? tok)}: ${mods.join(', ')}`);
    expect(twice).toEqual([]);
  });

  /*
   * Signalling: the strongest proof that signalling is a replaceable layer is to leave the
   * socket.io gateway out entirely. SessionModule + MediaModule are compiled alone (no HTTP
   * server, no socket.io), and the test itself is the signalling: it carries the offer,
   * answer and candidates between SessionService (owner ids, `events`) and a werift peer.
   * An embedding application with its own transport (WHEP, a message bus...) does the same.
   * Overriding one of the gateway's dependencies would only show that the gateway is
   * configurable, not that the layers below it do not need it.
   */
  it('signalling: SessionModule + MediaModule stream to a werift peer with no gateway at all', async () => {
    moduleRef = await Test.createTestingModule({ imports: [SessionModule.forRoot(LOOPBACK_ONLY)] }).compile();
    await moduleRef.init();
    expect(() => moduleRef!.get(SignallingGateway, { strict: false })).toThrow();
    const service = moduleRef.get(SessionService);
    const OWNER = 'in-process-client';

    const pc = loopbackPeer();
    peers.push(pc);
    let packets = 0;
    pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => packets++));
    pc.addTransceiver('video', { direction: 'recvonly' });
    const channel = pc.createDataChannel('data');
    const replies: string[] = [];
    channel.onMessage.subscribe((m) => replies.push(m.toString()));

    // Our "signalling": candidates both ways, queued until each side can take them.
    let sessionId = '';
    let remoteSet = false;
    const fromServer: (IceCandidateInit | null)[] = [];
    const toServer: (IceCandidateInit | null)[] = [];
    const states: SessionStateEvent[] = [];
    const addRemote = (c: IceCandidateInit | null) =>
      pc.addIceCandidate(
        c ? ({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined } as never) : null,
      );
    service.events.on('candidate', (owner: string, e: SessionCandidateEvent) => {
      if (owner !== OWNER) return;
      if (remoteSet) void addRemote(e.candidate);
      else fromServer.push(e.candidate);
    });
    service.events.on('state', (owner: string, e: SessionStateEvent) => {
      if (owner === OWNER) states.push(e);
    });
    pc.onIceCandidate.subscribe((c) => {
      const candidate = c ? (c.toJSON() as IceCandidateInit) : null;
      if (sessionId) void service.candidate(OWNER, sessionId, candidate);
      else toServer.push(candidate);
    });

    const offer = await pc.createOffer();
    void pc.setLocalDescription(offer);
    const result = await service.start(OWNER, { offer: { type: 'offer', sdp: offer.sdp } });
    if (!('answer' in result)) throw new Error('expected an answer to our offer');
    sessionId = result.sessionId;
    for (const c of toServer.splice(0)) await service.candidate(OWNER, sessionId, c);
    await pc.setRemoteDescription(new RTCSessionDescription(result.answer.sdp, 'answer'));
    remoteSet = true;
    for (const c of fromServer.splice(0)) await addRemote(c);

    await until('streaming', () => states.some((s) => s.sessionId === sessionId && s.state === 'streaming'));
    await until(`30 RTP packets (have ${packets})`, () => packets >= 30);
    await until('the data channel opens', () => channel.readyState === 'open');
    channel.send('ping');
    await until('pong', () => replies.includes('pong'));

    service.close(OWNER, sessionId);
    expect(service.count).toBe(0);
    expect(states[states.length - 1]).toEqual({ sessionId, state: 'closed', reason: 'client-closed' });
  });
});
