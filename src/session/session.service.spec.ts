import { Test, TestingModule } from '@nestjs/testing';
import { LOOPBACK_ONLY } from '../../test/helpers/app';
import { StreamingError } from '../common/streaming-error';
import { MediaSource } from '../media/media-source';
import { ManualSource } from '../media/sources/testing/manual-source';
import { ErrorCode, SessionStateEvent } from '../protocol';
import { SessionOptions } from './session.options';
import { SessionService } from './session.service';

const SDP_ANSWER = { type: 'answer' as const, sdp: 'v=0\r\n' };
const SDP_OFFER = { type: 'offer' as const, sdp: 'v=0\r\n' };

async function expectCode(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<StreamingError> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(StreamingError);
  expect((error as StreamingError).code).toBe(code);
  return error as StreamingError;
}

describe('SessionService', () => {
  let moduleRef: TestingModule;
  let service: SessionService;
  let states: [string, SessionStateEvent][];
  let closed = false;

  beforeEach(async () => {
    closed = false;
    moduleRef = await Test.createTestingModule({
      providers: [
        SessionService,
        { provide: MediaSource, useValue: new ManualSource('fake') },
        { provide: SessionOptions, useValue: SessionOptions.from({ ...LOOPBACK_ONLY, maxSessionsPerClient: 2 }) },
      ],
    }).compile();
    await moduleRef.init();
    service = moduleRef.get(SessionService);
    states = [];
    service.events.on('state', (owner, e) => states.push([owner, e]));
  });

  afterEach(async () => {
    if (!closed) await moduleRef.close();
  });

  const closedStates = () => states.filter(([, e]) => e.state === 'closed');

  it('starts a session on the default source, or on it by id, and offers when the client did not', async () => {
    const a = await service.start('alice', {});
    const b = await service.start('bob', { source: 'fake' });
    for (const r of [a, b]) {
      expect(r.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect('offer' in r && r.offer.type).toBe('offer');
      // The data channel is offered first; the video follows in a second negotiation.
      expect('offer' in r && r.offer.sdp).toMatch(/^v=0\r\n[\s\S]*m=application /);
      expect('offer' in r && r.offer.sdp).not.toMatch(/m=video /);
    }
    expect(a.sessionId).not.toBe(b.sessionId);
    expect(service.count).toBe(2);
    expect(service.list().map((s) => s.ownerId).sort()).toEqual(['alice', 'bob']);
  });

  it('refuses an unknown source with SOURCE_NOT_FOUND and creates nothing', async () => {
    const e = await expectCode(service.start('alice', { source: 'nope' }), ErrorCode.SOURCE_NOT_FOUND);
    expect(e.message).not.toContain('nope');
    expect(service.count).toBe(0);
    expect(states).toEqual([]);
  });

  it("answers SESSION_NOT_FOUND for another client's session, and leaves that session alone", async () => {
    const { sessionId } = await service.start('alice', {});
    await expectCode(() => service.close('mallory', sessionId), ErrorCode.SESSION_NOT_FOUND);
    await expectCode(service.answer('mallory', sessionId, SDP_ANSWER), ErrorCode.SESSION_NOT_FOUND);
    await expectCode(service.renegotiate('mallory', sessionId, SDP_OFFER), ErrorCode.SESSION_NOT_FOUND);
    await expectCode(service.candidate('mallory', sessionId, null), ErrorCode.SESSION_NOT_FOUND);
    expect(service.closeAllOf('mallory', 'client-disconnected')).toBe(0);
    expect(service.count).toBe(1);
    expect(service.list()[0].closed).toBe(false);
    expect(states).toEqual([]);
    // The owner still can.
    service.close('alice', sessionId);
    expect(service.count).toBe(0);
  });

  it('answers SESSION_NOT_FOUND for an unknown id and for a closed session', async () => {
    await expectCode(() => service.close('alice', '0b7e1c1e-7d0c-4f43-9a6b-2f0f8f6f1b55'), ErrorCode.SESSION_NOT_FOUND);
    const { sessionId } = await service.start('alice', {});
    service.close('alice', sessionId);
    await expectCode(() => service.close('alice', sessionId), ErrorCode.SESSION_NOT_FOUND);
    await expectCode(service.candidate('alice', sessionId, null), ErrorCode.SESSION_NOT_FOUND);
  });

  it('limits the sessions of one client (CAPACITY_EXCEEDED), not of the others', async () => {
    const first = await service.start('alice', {});
    await service.start('alice', {});
    await expectCode(service.start('alice', {}), ErrorCode.CAPACITY_EXCEEDED);
    expect(service.count).toBe(2);
    await service.start('bob', {});
    expect(service.count).toBe(3);
    // A closed session frees its slot.
    service.close('alice', first.sessionId);
    await service.start('alice', {});
    expect(service.count).toBe(3);
  });

  it('enforces the limit for concurrent starts too', async () => {
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => service.start('alice', {})));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect(((r as PromiseRejectedResult).reason as StreamingError).code).toBe(ErrorCode.CAPACITY_EXCEEDED);
    }
    expect(service.count).toBe(2);
  });

  it('closeAllOf closes every session of that client only, with the reason', async () => {
    const a1 = await service.start('alice', {});
    const a2 = await service.start('alice', {});
    const b1 = await service.start('bob', {});
    expect(service.closeAllOf('alice', 'client-disconnected')).toBe(2);
    expect(service.count).toBe(1);
    expect(service.list().map((s) => s.id)).toEqual([b1.sessionId]);
    expect(closedStates().sort((x, y) => x[1].sessionId.localeCompare(y[1].sessionId))).toEqual(
      [a1.sessionId, a2.sessionId]
        .sort()
        .map((sessionId) => ['alice', { sessionId, state: 'closed', reason: 'client-disconnected' }]),
    );
    expect(service.closeAllOf('alice', 'client-disconnected')).toBe(0);
  });

  it('closes every session with reason server-shutdown when the application shuts down', async () => {
    const a = await service.start('alice', {});
    const b = await service.start('bob', {});
    const sessions = service.list();
    expect(sessions).toHaveLength(2);
    await moduleRef.close();
    closed = true;
    expect(service.count).toBe(0);
    expect(sessions.every((s) => s.closed && s.state === 'closed')).toBe(true);
    expect(closedStates().sort((x, y) => x[0].localeCompare(y[0]))).toEqual([
      ['alice', { sessionId: a.sessionId, state: 'closed', reason: 'server-shutdown' }],
      ['bob', { sessionId: b.sessionId, state: 'closed', reason: 'server-shutdown' }],
    ]);
  });
  it("publishes closed after a session's last state, and a listener that throws leaves no session behind", async () => {
    const ended: unknown[] = [];
    service.events.on('closed', (e) => ended.push(e));
    // An embedding app's handler that throws, registered before the service's other listeners.
    service.events.prependListener('state', () => {
      throw new Error('app handler failed');
    });
    const once = jest.fn();
    service.events.once('closed', once);
    const a = await service.start('alice', {});
    const b = await service.start('bob', {});
    service.close('alice', a.sessionId);
    expect(service.count).toBe(1);
    // The other listeners still heard it.
    expect(closedStates()).toEqual([['alice', { sessionId: a.sessionId, state: 'closed', reason: 'client-closed' }]]);
    expect(ended).toEqual([{ sessionId: a.sessionId, ownerId: 'alice', reason: 'client-closed', source: 'fake' }]);
    expect(service.closeById(b.sessionId, 'ended-by-operator')).toBe(true);
    expect(service.closeById(b.sessionId, 'ended-by-operator')).toBe(false);
    expect(service.count).toBe(0);
    expect(ended).toHaveLength(2);
    expect(once).toHaveBeenCalledTimes(1);
  });

  it('gives each owner a view of its own sessions only, and everyone plain summaries', async () => {
    const a = await service.start('alice', {});
    const b = await service.start('bob', {});
    const alice = service.ownedBy('alice');
    expect(alice.ids()).toEqual([a.sessionId]);
    await expectCode(() => alice.close(b.sessionId), ErrorCode.SESSION_NOT_FOUND);
    await expectCode(alice.stopVideo(b.sessionId), ErrorCode.SESSION_NOT_FOUND);
    const summaries = service.summaries();
    expect(summaries.map((s) => [s.id, s.ownerId, s.source, s.state]).sort()).toEqual(
      [
        [a.sessionId, 'alice', 'fake', 'connecting'],
        [b.sessionId, 'bob', 'fake', 'connecting'],
      ].sort(),
    );
    expect(summaries[0].senders).toEqual([]);
    expect(summaries[0].pictureLoss).toEqual({ source: 0, replay: 0, limited: 0, ended: 0 });
    expect(service.descriptions(a.sessionId)?.local).toMatch(/^v=0/);
    let last: string | undefined;
    service.events.on('state', (_, e) => (last = service.summary(e.sessionId)?.state));
    alice.close(a.sessionId);
    expect(last).toBe('closed');
    expect(service.summary(a.sessionId)).toBeUndefined();
    expect(alice.ids()).toEqual([]);
    expect(service.summaries().map((s) => s.id)).toEqual([b.sessionId]);
  });
});
