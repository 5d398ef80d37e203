import { pingReply } from './session';

describe('pingReply', () => {
  it('answers the plain text ping with pong', () => {
    expect(pingReply('ping')).toBe('pong');
  });

  it('answers only the exact word', () => {
    for (const text of ['Ping', 'PING', ' ping', 'ping ', 'ping\n', 'pingping', 'pong', '']) {
      expect(pingReply(text)).toBeUndefined();
    }
  });

  it('answers a JSON ping with a JSON pong carrying the same id', () => {
    expect(JSON.parse(pingReply(JSON.stringify({ type: 'ping', id: 42 }))!)).toEqual({ type: 'pong', id: 42 });
    expect(JSON.parse(pingReply(JSON.stringify({ type: 'ping', id: 'abc' }))!)).toEqual({ type: 'pong', id: 'abc' });
    expect(JSON.parse(pingReply('{"id":{"n":[1,2]},"type":"ping","extra":true}')!)).toEqual({
      type: 'pong',
      id: { n: [1, 2] },
    });
  });

  it('answers a JSON ping without an id with a pong without an id', () => {
    expect(JSON.parse(pingReply('{"type":"ping"}')!)).toEqual({ type: 'pong' });
  });

  it('does not answer JSON that is not a ping', () => {
    for (const text of ['{"type":"pong","id":1}', '{"type":"PING"}', '{"id":1}', '{}', '["ping"]', '"ping"', 'null', '1']) {
      expect(pingReply(text)).toBeUndefined();
    }
  });

  it('does not answer (or throw on) invalid JSON', () => {
    for (const text of ['{', '{"type":"ping"', '{type:ping}', "{'type':'ping'}", '{"type":"ping"}}']) {
      expect(() => pingReply(text)).not.toThrow();
      expect(pingReply(text)).toBeUndefined();
    }
  });

  it('ignores an oversized message, even a valid JSON ping', () => {
    const padded = (n: number) => JSON.stringify({ type: 'ping', id: 1, pad: 'x'.repeat(n) });
    const fits = padded(4096 - padded(0).length);
    expect(fits.length).toBe(4096);
    expect(pingReply(fits)).toBe(JSON.stringify({ type: 'pong', id: 1 }));
    const tooBig = padded(4097 - padded(0).length);
    expect(tooBig.length).toBe(4097);
    expect(pingReply(tooBig)).toBeUndefined();
    expect(pingReply('{' + ' '.repeat(1_000_000) + '}')).toBeUndefined();
  });
});
