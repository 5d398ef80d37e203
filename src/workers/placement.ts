/**
 * Where a new session goes, and how a UDP port range is shared: pure functions, unit-tested
 * in placement.spec.ts.
 */

/** What placement reads of a worker. */
export interface WorkerLoad {
  /** Started and not dying. */
  ready: boolean;
  /** Sessions placed on it and not closed (pending starts included). */
  sessions: number;
}

/** The index of the least-loaded usable worker (lowest index on a tie), or -1 when none is usable. */
export function leastLoaded(workers: readonly WorkerLoad[]): number {
  let best = -1;
  for (let i = 0; i < workers.length; i++) {
    const w = workers[i];
    if (!w.ready) continue;
    if (best === -1 || w.sessions < workers[best].sessions) best = i;
  }
  return best;
}

/**
 * Each worker's share of [min, max]: contiguous shares as equal as possible (the first ones
 * one port larger), so that two workers never race for a port (werift probes a port, closes
 * it, then binds it). werift refuses a range of one port, so when the range has fewer than two
 * ports per worker every worker gets all of it and the OS arbitrates (a port is bound once).
 * Without a range, every worker binds anywhere (undefined each).
 */
export function splitPortRange(range: [number, number] | undefined, n: number): ([number, number] | undefined)[] {
  if (!range) return new Array<undefined>(n).fill(undefined);
  const [min, max] = range;
  const total = max - min + 1;
  if (total < 2 * n) return new Array<[number, number]>(n).fill([min, max]);
  const base = Math.floor(total / n);
  const extra = total % n;
  const shares: [number, number][] = [];
  let next = min;
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0);
    shares.push([next, next + size - 1]);
    next += size;
  }
  return shares;
}
