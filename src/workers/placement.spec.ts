import { leastLoaded, splitPortRange } from './placement';

describe('leastLoaded', () => {
  it('picks the worker with the fewest sessions, the first on a tie', () => {
    expect(leastLoaded([{ ready: true, sessions: 3 }, { ready: true, sessions: 1 }, { ready: true, sessions: 1 }])).toBe(1);
    expect(leastLoaded([{ ready: true, sessions: 0 }, { ready: true, sessions: 0 }])).toBe(0);
  });

  it('skips workers that are not ready or have no ports, and answers -1 when none is usable', () => {
    expect(leastLoaded([{ ready: false, sessions: 0 }, { ready: true, sessions: 5 }])).toBe(1);
    expect(leastLoaded([{ ready: true, sessions: 0, noPorts: true }, { ready: true, sessions: 9 }])).toBe(1);
    expect(leastLoaded([{ ready: false, sessions: 0 }, { ready: true, sessions: 0, noPorts: true }])).toBe(-1);
    expect(leastLoaded([])).toBe(-1);
  });
});

describe('splitPortRange', () => {
  it('splits a range into contiguous shares that cover it once', () => {
    expect(splitPortRange([10000, 10009], 2)).toEqual([[10000, 10004], [10005, 10009]]);
    expect(splitPortRange([10000, 10010], 3)).toEqual([[10000, 10003], [10004, 10007], [10008, 10010]]);
  });

  it('leaves a worker without ports when there are fewer ports than workers', () => {
    expect(splitPortRange([5000, 5000], 2)).toEqual([[5000, 5000], undefined]);
  });

  it('without a range, every worker binds anywhere', () => {
    expect(splitPortRange(undefined, 2)).toEqual([undefined, undefined]);
  });
});
