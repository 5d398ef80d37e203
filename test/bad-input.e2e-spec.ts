import { RTCSessionDescription } from 'werift';
import type { ClientSocket } from '../src/client/streaming-client';
import {
  Ack,
  AckError,
  CLIENT_EVENTS,
  ErrorCode,
  MAX_MESSAGE_BYTES,
  MAX_SDP_LENGTH,
  ServerToClientEvents,
} from '../src/protocol';
import { SessionService } from '../src/session/session.service';
import { TestApp, sessionClosed, startApp } from './helpers/app';
import { countOwnUdpSockets as udpSocketCount } from './helpers/udp-sockets';
import { WeriftViewer, loopbackPeer, ok, request } from './helpers/werift-viewer';
import { until } from './helpers/wait';

/**
 * Bad input of every kind, while another viewer streams: each request gets its error
 * code through the ack, and the bystander keeps receiving video and answering pings.
 */

const DOCUMENTED_CODES = Object.values(ErrorCode) as string[];
const UUID_V4 = '0b7e1c1e-7d0c-4f43-9a6b-2f0f8f6f1b55';

function once<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  timeoutMs = 5_000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler as never);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (ev: Parameters<ServerToClientEvents[E]>[0]) => {
      clearTimeout(timer);
      resolve(ev);
    };
    socket.once(event, handler as never);
  });
}

/** Emits with an ack and expects `{ ok: false, error: { code, message } }` with that code. */
async function expectError(socket: ClientSocket, event: string, payload: unknown, code: ErrorCode): Promise<AckError> {
  const res = await request(socket, event, payload);
  expect(res).toEqual({ ok: false, error: { code, message: expect.any(String) } });
  expect(Object.keys((res as AckError).error).sort()).toEqual(['code', 'message']);
  return res as AckError;
}

/** Emits with an ack and no payload at all. */
function requestWithoutPayload(socket: ClientSocket, event: string): Promise<Ack> {
  const s = socket.timeout(5_000) as unknown as { emitWithAck(e: string): Promise<Ack> };
  return s.emitWithAck(event);
}

/** A recvonly-video + data-channel offer from a werift peer that is closed at once. */
async function clientOffer(opts: { video: boolean; dataChannel?: boolean; audio?: boolean }): Promise<string> {
  const pc = loopbackPeer();
  try {
    if (opts.video) pc.addTransceiver('video', { direction: 'recvonly' });
    if (opts.audio) pc.addTransceiver('audio', { direction: 'recvonly' });
    if (opts.dataChannel !== false) pc.createDataChannel('data');
    const offer = await pc.createOffer();
    return offer.sdp;
  } finally {
    await pc.close();
  }
}

describe('bad input, while another viewer streams', () => {
  let t: TestApp;
  let sessions: SessionService;
  let bystander: WeriftViewer;
  const viewers: WeriftViewer[] = [];

  beforeEach(async () => {
    t = await startApp();
    sessions = t.app.get(SessionService);
    bystander = await viewer();
    await bystander.startWithOffer();
    await bystander.waitForState('streaming');
    await bystander.waitForPackets(5);
  });

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await t.close();
  });

  /** The bystander was not disturbed by whatever the test sent. */
  async function expectBystanderUndisturbed(): Promise<void> {
    expect(bystander.socket.connected).toBe(true);
    expect(bystander.state).toBe('streaming');
    const before = bystander.packets;
    await bystander.waitForPackets(before + 10);
    expect(await bystander.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
  }

  /**
   * Jest's `it` and `it.each` with the bystander check as every test's last assertion, so
   * the test that disturbed it is the one that fails (not a hook after it).
   */
  const it = Object.assign(
    (name: string, fn: () => Promise<void>, timeout?: number) =>
      globalThis.it(name, async () => {
        await fn();
        await expectBystanderUndisturbed();
      }, timeout),
    {
      each:
        <T extends readonly unknown[] | string>(table: readonly T[]) =>
        (name: string, fn: (...args: T extends readonly unknown[] ? T : [T]) => Promise<void>, timeout?: number) =>
          globalThis.it.each(table as never[])(name, async (...args: unknown[]) => {
            await (fn as (...a: unknown[]) => Promise<void>)(...args);
            await expectBystanderUndisturbed();
          }, timeout),
    },
  );

  async function viewer(): Promise<WeriftViewer> {
    const v = new WeriftViewer(await t.connect());
    viewers.push(v);
    return v;
  }

  describe('payloads that are not objects', () => {
    it.each(CLIENT_EVENTS)('%s: string, number, null, array, boolean or missing → VALIDATION_FAILED', async (event) => {
      const s = await t.connect();
      for (const payload of ['hello', 42, null, [], [{ sessionId: UUID_V4 }], true]) {
        const res = await expectError(s, event, payload, ErrorCode.VALIDATION_FAILED);
        expect(res.error.message).not.toContain('hello');
      }
      expect(await requestWithoutPayload(s, event)).toEqual({
        ok: false,
        error: { code: ErrorCode.VALIDATION_FAILED, message: expect.any(String) },
      });
      expect(sessions.count).toBe(1);
      expect(s.connected).toBe(true);
    });

    it('without an ack: the error comes as server:error naming the event', async () => {
      const s = await t.connect();
      const got = once(s, 'server:error');
      (s as unknown as { emit(e: string, p: unknown): void }).emit('session:close', 'not an object');
      expect(await got).toEqual({ code: ErrorCode.VALIDATION_FAILED, message: expect.any(String), event: 'session:close' });
    });
  });

  describe('unknown fields, wrong types, bad SDP fields', () => {
    const SECRET = 'S3CR3T';
    const sdpWith = (marker: string) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=${marker}\r\nt=0 0\r\n`;
    const cases: [string, string, unknown][] = [
      ['unknown top-level field', 'session:start', { [SECRET]: SECRET }],
      ['unknown field inside offer', 'session:start', { offer: { type: 'offer', sdp: sdpWith(SECRET), extra: SECRET } }],
      ['source of the wrong type', 'session:start', { source: 4242424242 }],
      ['empty source', 'session:start', { source: '' }],
      ['offer that is a string', 'session:start', { offer: sdpWith(SECRET) }],
      ['offer.type not "offer"', 'session:start', { offer: { type: 'answer', sdp: sdpWith(SECRET) } }],
      ['offer.type a made-up value', 'session:start', { offer: { type: SECRET, sdp: sdpWith('x') } }],
      ['offer.sdp not a string', 'session:start', { offer: { type: 'offer', sdp: 4242424242 } }],
      ['offer.sdp not starting with v=0', 'session:start', { offer: { type: 'offer', sdp: `${SECRET}\r\nv=0\r\n` } }],
      [
        'offer.sdp over MAX_SDP_LENGTH',
        'session:start',
        { offer: { type: 'offer', sdp: sdpWith(SECRET) + `a=${SECRET}\r\n`.repeat(MAX_SDP_LENGTH / 8) } },
      ],
      ['answer.type "offer"', 'session:answer', { sessionId: UUID_V4, answer: { type: 'offer', sdp: sdpWith(SECRET) } }],
      ['answer missing', 'session:answer', { sessionId: UUID_V4 }],
      ['renegotiation offer.type "answer"', 'session:offer', { sessionId: UUID_V4, offer: { type: 'answer', sdp: sdpWith(SECRET) } }],
      ['sessionId of the wrong type', 'session:close', { sessionId: 4242424242 }],
      ['candidate missing', 'session:candidate', { sessionId: UUID_V4 }],
      ['candidate a string', 'session:candidate', { sessionId: UUID_V4, candidate: `candidate:${SECRET}` }],
      ['candidate.candidate a number', 'session:candidate', { sessionId: UUID_V4, candidate: { candidate: 4242424242 } }],
      ['candidate.sdpMLineIndex negative', 'session:candidate', { sessionId: UUID_V4, candidate: { candidate: '', sdpMLineIndex: -1 } }],
      ['unknown field inside candidate', 'session:candidate', { sessionId: UUID_V4, candidate: { candidate: '', [SECRET]: 1 } }],
    ];

    it.each(cases)('%s → VALIDATION_FAILED without echoing the value', async (_name, event, payload) => {
      const s = await t.connect();
      const size = JSON.stringify(payload).length;
      expect(size).toBeLessThan(MAX_MESSAGE_BYTES - 1024); // so the server reads it
      const { error } = await expectError(s, event, payload, ErrorCode.VALIDATION_FAILED);
      expect(error.message).not.toContain('4242424242');
      // Field names may appear; submitted values (and so the SDP) never do.
      if (!_name.startsWith('unknown')) expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain('o=- 1 1');
      expect(error.message.length).toBeLessThanOrEqual(1000);
      expect(sessions.count).toBe(1);
    });

    it('a real offer over MAX_SDP_LENGTH is refused and its SDP not echoed', async () => {
      const sdp = await clientOffer({ video: true });
      const padded = sdp + 'a=x-padding:0123456789abcdef\r\n'.repeat(Math.ceil(MAX_SDP_LENGTH / 28));
      expect(padded.length).toBeGreaterThan(MAX_SDP_LENGTH);
      const { error } = await expectError(await t.connect(), 'session:start', { offer: { type: 'offer', sdp: padded } }, ErrorCode.VALIDATION_FAILED);
      expect(error.message).toMatch(/sdp/);
      expect(error.message).not.toContain('0123456789abcdef');
      expect(error.message).not.toContain('m=video');
      expect(sessions.count).toBe(1);
    });
  });

  it('a message larger than MAX_MESSAGE_BYTES makes the server drop that socket and its sessions', async () => {
    const v = await viewer();
    await v.startWithServerOffer();
    await v.waitForState('streaming');
    expect(sessions.count).toBe(2);
    const dropped = new Promise<string>((resolve) => v.socket.once('disconnect', (reason) => resolve(reason)));
    const closed = sessionClosed(sessions, v.sessionId);
    const huge = 'v=0\r\n' + 'a'.repeat(MAX_MESSAGE_BYTES + 1024);
    v.socket.emit('session:start', { offer: { type: 'offer', sdp: huge } }, () => {
      throw new Error('the oversized request must not be answered');
    });
    expect(await dropped).toBe('transport close');
    expect((await closed).reason).toBe('client-disconnected');
    expect(sessions.count).toBe(1);
  });

  describe('unknown events', () => {
    it('with an ack → UNKNOWN_EVENT through the ack', async () => {
      const s = await t.connect();
      await expectError(s, 'session:nope', { sessionId: UUID_V4 }, ErrorCode.UNKNOWN_EVENT);
      await expectError(s, 'hello', 'world', ErrorCode.UNKNOWN_EVENT);
      expect(await requestWithoutPayload(s, 'session:nope')).toEqual({
        ok: false,
        error: { code: ErrorCode.UNKNOWN_EVENT, message: expect.any(String) },
      });
    });

    it('without an ack → a server:error event with UNKNOWN_EVENT', async () => {
      const s = await t.connect();
      const got = once(s, 'server:error');
      (s as unknown as { emit(e: string, p: unknown): void }).emit('session:nope', { x: 1 });
      expect(await got).toEqual({ code: ErrorCode.UNKNOWN_EVENT, message: expect.any(String), event: 'session:nope' });
      const got2 = once(s, 'server:error');
      (s as unknown as { emit(e: string): void }).emit('bare');
      expect(await got2).toEqual({ code: ErrorCode.UNKNOWN_EVENT, message: expect.any(String), event: 'bare' });
    });
  });

  describe('session ids', () => {
    const requests = (sessionId: unknown, sdp = 'v=0\r\n'): [string, unknown][] => [
      ['session:answer', { sessionId, answer: { type: 'answer', sdp } }],
      ['session:offer', { sessionId, offer: { type: 'offer', sdp } }],
      ['session:candidate', { sessionId, candidate: null }],
      ['session:candidate', { sessionId, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0 } }],
      ['session:close', { sessionId }],
    ];

    it('an unknown (valid uuid v4) id → SESSION_NOT_FOUND', async () => {
      const s = await t.connect();
      for (const [event, payload] of requests(UUID_V4)) {
        await expectError(s, event, payload, ErrorCode.SESSION_NOT_FOUND);
      }
    });

    it('an id that is not a uuid → VALIDATION_FAILED', async () => {
      const s = await t.connect();
      for (const bad of ['nope', '', '1234', UUID_V4.toUpperCase().replace('4F43', '1F43'), UUID_V4 + 'x']) {
        for (const [event, payload] of requests(bad)) {
          await expectError(s, event, payload, ErrorCode.VALIDATION_FAILED);
        }
      }
    });

    it("another socket's session id → SESSION_NOT_FOUND, and that session is untouched", async () => {
      const s = await t.connect();
      const answerSdp = (await (async () => {
        const pc = loopbackPeer();
        try {
          const offer = await clientOffer({ video: true });
          await pc.setRemoteDescription(new RTCSessionDescription(offer, 'offer'));
          return (await pc.createAnswer()).sdp;
        } finally {
          await pc.close();
        }
      })()) as string;
      for (const [event, payload] of requests(bystander.sessionId, answerSdp)) {
        await expectError(s, event, payload, ErrorCode.SESSION_NOT_FOUND);
      }
      expect(sessions.count).toBe(1);
      expect(sessions.list()[0].id).toBe(bystander.sessionId);
      expect(bystander.states.map((e) => e.state)).not.toContain('closed');
    });
  });

  it("source: 'nope' → SOURCE_NOT_FOUND, with and without an offer", async () => {
    const s = await t.connect();
    await expectError(s, 'session:start', { source: 'nope' }, ErrorCode.SOURCE_NOT_FOUND);
    const sdp = await clientOffer({ video: true });
    await expectError(s, 'session:start', { source: 'nope', offer: { type: 'offer', sdp } }, ErrorCode.SOURCE_NOT_FOUND);
    expect(sessions.count).toBe(1);
  });

  describe('SDP that does not negotiate', () => {
    it('v=0 followed by garbage → NEGOTIATION_FAILED, and no session is left behind', async () => {
      const s = await t.connect();
      const udpBefore = udpSocketCount();
      const { error } = await expectError(
        s,
        'session:start',
        { offer: { type: 'offer', sdp: 'v=0\r\n\u0000\u00ff garbage \r\nm=what\r\nzzz\r\n' } },
        ErrorCode.NEGOTIATION_FAILED,
      );
      expect(DOCUMENTED_CODES).toContain(error.code);
      expect(error.message).not.toContain('garbage');
      expect(sessions.count).toBe(1);
      await until('the failed session released its UDP sockets', () => udpSocketCount() <= udpBefore);
    });

    it('an offer with neither video nor a data channel (audio only) → NEGOTIATION_FAILED, no session left', async () => {
      const s = await t.connect();
      const sdp = await clientOffer({ video: false, dataChannel: false, audio: true });
      expect(sdp).not.toContain('m=video');
      expect(sdp).not.toContain('m=application');
      const udpBefore = udpSocketCount();
      await expectError(s, 'session:start', { offer: { type: 'offer', sdp } }, ErrorCode.NEGOTIATION_FAILED);
      expect(sessions.count).toBe(1);
      await until('the failed session released its UDP sockets', () => udpSocketCount() <= udpBefore);
    });

    it('an answer when no offer is pending → INVALID_STATE, and the session keeps streaming', async () => {
      const v = await viewer();
      await v.startWithOffer(); // the client offered: nothing of ours waits for an answer
      await v.waitForState('streaming');
      const answer = await v.pc.createAnswer().catch(() => undefined);
      const sdp = answer?.sdp ?? v.pc.localDescription!.sdp;
      await expectError(v.socket, 'session:answer', { sessionId: v.sessionId, answer: { type: 'answer', sdp } }, ErrorCode.INVALID_STATE);
      // A second answer to a server offer that was already answered: the same.
      const w = await viewer();
      await w.startWithServerOffer();
      await w.waitForState('streaming');
      await expectError(
        w.socket,
        'session:answer',
        { sessionId: w.sessionId, answer: { type: 'answer', sdp: w.pc.localDescription!.sdp } },
        ErrorCode.INVALID_STATE,
      );
      expect(sessions.count).toBe(3);
      for (const x of [v, w]) {
        const n = x.packets;
        await x.waitForPackets(n + 5);
        expect(await x.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
      }
    });

    it('a garbage answer to a server offer → NEGOTIATION_FAILED with a documented code', async () => {
      const s = await t.connect();
      const started = await ok<{ sessionId: string }>(s, 'session:start', {});
      const { error } = await expectError(
        s,
        'session:answer',
        { sessionId: started.sessionId, answer: { type: 'answer', sdp: 'v=0\r\ngarbage\r\n' } },
        ErrorCode.NEGOTIATION_FAILED,
      );
      expect(error.message).not.toContain('garbage');
    });
  });

  describe('client mistakes that werift or class-transformer choked on (issue #10, 4)', () => {
    it('an extra field nested 3,000 deep → VALIDATION_FAILED (not a stack overflow, not INTERNAL)', async () => {
      const s = await t.connect();
      let deep: Record<string, unknown> = {};
      for (let i = 0; i < 3_000; i++) deep = { a: deep };
      for (const [event, payload] of [
        ['session:start', { extra: deep }],
        ['session:close', { sessionId: UUID_V4, extra: deep }],
        ['session:start', { offer: { type: 'offer', sdp: 'v=0\r\n', x: deep } }],
      ] as const) {
        await expectError(s, event, payload, ErrorCode.VALIDATION_FAILED);
      }
      expect(sessions.count).toBe(1);
    });

    it('a renegotiation offer whose video m-line has no mid → NEGOTIATION_FAILED, and the session is released', async () => {
      const v = await viewer();
      await v.startWithOffer();
      await v.waitForState('streaming');
      const own = v.pc.localDescription!.sdp;
      const [head, ...media] = own.split(/\r\n(?=m=)/);
      // As a mutated offer found it: the video's mid line gone and its payload type unusable.
      const noMid = [
        head,
        ...media.map((m) => (m.startsWith('m=video') ? m.replace(/\r\na=mid:[^\r]*/, '').replace(/a=rtpmap:\d+ [^\r]*/, 'a=rtpmap:-1 x') : m)),
      ].join('\r\n');
      expect(noMid).not.toBe(own);
      const udpBefore = udpSocketCount();
      const { error } = await expectError(v.socket, 'session:offer', { sessionId: v.sessionId, offer: { type: 'offer', sdp: noMid } }, ErrorCode.NEGOTIATION_FAILED);
      expect(error.message).not.toContain('a=');
      await v.close();
      await until(`the session is gone (count ${sessions.count})`, () => sessions.count === 1, 25_000);
      await until(`UDP sockets released (now ${udpSocketCount()}, before ${udpBefore})`, () => udpSocketCount() <= udpBefore - 2, 10_000);
    });
  });

  describe('candidates', () => {
    it('a candidate for a closed session → SESSION_NOT_FOUND', async () => {
      const s = await t.connect();
      const { sessionId } = await ok<{ sessionId: string }>(s, 'session:start', {});
      await ok(s, 'session:close', { sessionId });
      await expectError(
        s,
        'session:candidate',
        { sessionId, candidate: { candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
        ErrorCode.SESSION_NOT_FOUND,
      );
      await expectError(s, 'session:candidate', { sessionId, candidate: null }, ErrorCode.SESSION_NOT_FOUND);
      expect(sessions.count).toBe(1);
    });

    it('a malformed candidate for a live session → an error with a code, and the session survives', async () => {
      const v = await viewer();
      await v.startWithOffer();
      await v.waitForState('streaming');
      for (const candidate of ['candidate:garbage', 'garbage', 'candidate:1 1 udp notanumber 127.0.0.1 9 typ host', 'candidate:1 1 udp 1 127.0.0.1']) {
        const res = await request(v.socket, 'session:candidate', {
          sessionId: v.sessionId,
          candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 },
        });
        expect(res).toEqual({ ok: false, error: { code: expect.any(String), message: expect.any(String) } });
        const { code, message } = (res as AckError).error;
        expect(DOCUMENTED_CODES).toContain(code);
        expect([ErrorCode.VALIDATION_FAILED, ErrorCode.NEGOTIATION_FAILED]).toContain(code);
        expect(message).not.toContain('garbage');
      }
      expect(sessions.count).toBe(2);
      const n = v.packets;
      await v.waitForPackets(n + 5);
      expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
      expect(v.states.map((e) => e.state)).not.toContain('closed');
    });
  });

  describe('a client that disconnects in the middle of a negotiation', () => {
    it('after session:start with a server offer, before answering: its session and UDP sockets go', async () => {
      const udpBefore = udpSocketCount();
      const s = await t.connect();
      const { sessionId } = await ok<{ sessionId: string; offer: { sdp: string } }>(s, 'session:start', {});
      expect(sessions.count).toBe(2);
      expect(sessions.list().map((x) => x.id)).toContain(sessionId);
      const closed = sessionClosed(sessions, sessionId);
      s.disconnect();
      expect((await closed).reason).toBe('client-disconnected');
      expect(sessions.count).toBe(1);
      await until(`UDP sockets back to ${udpBefore} (now ${udpSocketCount()})`, () => udpSocketCount() <= udpBefore);
    });

    it('right after sending its offer, once the server started on it, before the ack: its session and UDP sockets go', async () => {
      const sdp = await clientOffer({ video: true });
      const udpBefore = udpSocketCount();
      const s = await t.connect();
      const original = sessions.start.bind(sessions);
      // Disconnect the moment the server begins negotiating: the disconnect reaches the
      // server while the offer is being answered.
      const start = jest.spyOn(sessions, 'start').mockImplementation((ownerId, req) => {
        s.disconnect();
        return original(ownerId, req);
      });
      let acked = false;
      s.emit('session:start', { offer: { type: 'offer', sdp } }, () => (acked = true));
      await until('the server handles session:start', () => start.mock.calls.length === 1);
      const outcome = await (start.mock.results[0].value as Promise<unknown>).then(
        () => 'answered',
        (e: Error) => e.message,
      );
      start.mockRestore();
      await until(`its session is closed (count ${sessions.count}, start ${outcome})`, () => sessions.count === 1);
      expect(sessions.list()[0].id).toBe(bystander.sessionId);
      await until(`UDP sockets back to ${udpBefore} (now ${udpSocketCount()})`, () => udpSocketCount() <= udpBefore);
      expect(acked).toBe(false);
    });

    it('whose disconnect the server handles before it starts the session: the late session goes too', async () => {
      const sdp = await clientOffer({ video: true });
      const udpBefore = udpSocketCount();
      const s = await t.connect();
      const id = s.id!;
      const original = sessions.start.bind(sessions);
      const closeAllOf = jest.spyOn(sessions, 'closeAllOf');
      // Hold the request until the server has processed the disconnect (and closed the
      // client's sessions, none yet), then let it create its session.
      const start = jest.spyOn(sessions, 'start').mockImplementation(async (ownerId, req) => {
        s.disconnect();
        await until('the server sees the disconnect', () => closeAllOf.mock.calls.some(([o]) => o === id));
        return original(ownerId, req);
      });
      s.emit('session:start', { offer: { type: 'offer', sdp } }, () => undefined);
      await until('the server handles session:start', () => start.mock.calls.length === 1);
      await (start.mock.results[0].value as Promise<unknown>).catch(() => undefined);
      start.mockRestore();
      await until(`the late session is closed (count ${sessions.count})`, () => sessions.count === 1);
      closeAllOf.mockRestore();
      expect(sessions.list()[0].id).toBe(bystander.sessionId);
      await until(`UDP sockets back to ${udpBefore} (now ${udpSocketCount()})`, () => udpSocketCount() <= udpBefore);
    });

    it('a server-offer start whose client goes before the ack: its session and UDP sockets go', async () => {
      const udpBefore = udpSocketCount();
      const s = await t.connect();
      const original = sessions.start.bind(sessions);
      const start = jest.spyOn(sessions, 'start').mockImplementation((ownerId, req) => {
        s.disconnect();
        return original(ownerId, req);
      });
      s.emit('session:start', {}, () => undefined);
      await until('the server handles session:start', () => start.mock.calls.length === 1);
      await (start.mock.results[0].value as Promise<unknown>).catch(() => undefined);
      start.mockRestore();
      await until(`its session is closed (count ${sessions.count})`, () => sessions.count === 1);
      await until(`UDP sockets back to ${udpBefore} (now ${udpSocketCount()})`, () => udpSocketCount() <= udpBefore);
    });
  });
});
