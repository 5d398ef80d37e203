import { ErrorCode } from '../protocol';
import { ClientLimits, clientAddress } from './client-limits';

describe('clientAddress', () => {
  const xff = { 'x-forwarded-for': '10.9.9.9, 198.51.100.7, 203.0.113.5' };
  it('is the connection address unless proxies are trusted', () => {
    expect(clientAddress('::ffff:192.0.2.1', xff, 0)).toBe('192.0.2.1');
  });
  it('takes the entry that many places from the right of X-Forwarded-For', () => {
    expect(clientAddress('192.0.2.1', xff, 1)).toBe('203.0.113.5');
    expect(clientAddress('192.0.2.1', xff, 2)).toBe('198.51.100.7');
    // More hops trusted than there are entries, or no header: the connection's own.
    expect(clientAddress('192.0.2.1', xff, 5)).toBe('192.0.2.1');
    expect(clientAddress('192.0.2.1', {}, 1)).toBe('192.0.2.1');
  });
});

describe('ClientLimits', () => {
  it('counts sockets per address and frees a place on release (once)', () => {
    const l = new ClientLimits({ maxSocketsPerAddress: 2 });
    const a = l.openSocket('a');
    expect(typeof a).toBe('function');
    expect(typeof l.openSocket('a')).toBe('function');
    expect(l.openSocket('a')).toMatch(/at most 2/);
    expect(typeof l.openSocket('b')).toBe('function');
    (a as () => void)();
    (a as () => void)();
    expect(typeof l.openSocket('a')).toBe('function');
    expect(l.openSocket('a')).toMatch(/at most 2/);
  });

  it('sessions in progress: released when the session settles, or at once when it closed before its start returned', () => {
    const l = new ClientLimits({ maxSessionsInProgressPerAddress: 1 });
    const first = l.beginSession('a');
    expect(() => l.beginSession('a')).toThrow(expect.objectContaining({ code: ErrorCode.CAPACITY_EXCEEDED }));
    first.started('s1');
    l.settled('s1', false);
    const second = l.beginSession('a');
    l.settled('s2', true); // closed before its start returned
    second.started('s2');
    expect(() => l.beginSession('a')).not.toThrow();
  });

  it('0 turns a limit off', async () => {
    const l = new ClientLimits({ maxSocketsPerAddress: 0, maxSessionsInProgressPerAddress: 0, eventsPerSecond: 0 });
    for (let i = 0; i < 100; i++) {
      expect(typeof l.openSocket('a')).toBe('function');
      l.beginSession('a');
      expect(await l.allowEvent('s')).toBe(true);
    }
  });

  it('events: the rate plus the burst, then refused', async () => {
    const l = new ClientLimits({ eventsPerSecond: 5, eventBurst: 3 });
    const results: boolean[] = [];
    for (let i = 0; i < 12; i++) results.push(await l.allowEvent('s'));
    expect(results.filter(Boolean)).toHaveLength(8);
    expect(await l.allowEvent('other')).toBe(true);
  });
});
