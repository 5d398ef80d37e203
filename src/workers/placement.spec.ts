import { leastLoaded, splitPortRange } from './placement';

describe('leastLoaded', () => {
  it('picks the worker with the fewest sessions, the first on a tie', () => {
    expect(leastLoaded([{ ready: true, sessions: 3 }, { ready: true, sessions: 1 }, { ready: true, sessions: 1 }])).toBe(1);
    expect(leastLoaded([{ ready: true, sessions: 0 }, { ready: true, sessions: 0 }])).toBe(0);
  });

  it('skips workers that are not ready (restarting), and answers -1 when none is', () => {
    expect(leastLoaded([{ ready: false, sessions: 0 }, { ready: true, sessions: 5 }])).toBe(1);
    expect(leastLoaded([{ ready: false, sessions: 0 }, { ready: false, sessions: 0 }])).toBe(-1);
    expect(leastLoaded([])).toBe(-1);
  });
});

describe('splitPortRange', () => {
  it('splits a range into contiguous shares that cover it once', () => {
    expect(splitPortRange([10000, 10009], 2)).toEqual([[10000, 10004], [10005, 10009]]);
    expect(splitPortRange([10000, 10010], 3)).toEqual([[10000, 10003], [10004, 10007], [10008, 10010]]);
  });

  it('gives every worker the whole range when it has fewer than two ports per worker (werift refuses a one-port range)', () => {
    expect(splitPortRange([5000, 5001], 2)).toEqual([[5000, 5001], [5000, 5001]]);
    expect(splitPortRange([5000, 5002], 2)).toEqual([[5000, 5002], [5000, 5002]]);
    expect(splitPortRange([5000, 5003], 2)).toEqual([[5000, 5001], [5002, 5003]]);
  });

  it('without a range, every worker binds anywhere', () => {
    expect(splitPortRange(undefined, 2)).toEqual([undefined, undefined]);
  });
});
