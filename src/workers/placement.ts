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
  /** Its share of the port range is empty: it can gather no candidate. */
  noPorts?: boolean;
}

/** The index of the least-loaded usable worker (lowest index on a tie), or -1 when none is usable. */
export function leastLoaded(workers: readonly WorkerLoad[]): number {
  let best = -1;
  for (let i = 0; i < workers.length; i++) {
    const w = workers[i];
    if (!w.ready || w.noPorts) continue;
    if (best === -1 || w.sessions < workers[best].sessions) best = i;
  }
  return best;
}

/**
 * Splits [min, max] into `n` contiguous shares as equal as possible (the first ones one port
 * larger); a share is undefined when there are fewer ports than workers. Without a range,
 * every worker binds anywhere (undefined each).
 */
export function splitPortRange(range: [number, number] | undefined, n: number): ([number, number] | undefined)[] {
  if (!range) return new Array<undefined>(n).fill(undefined);
  const [min, max] = range;
  const total = max - min + 1;
  const base = Math.floor(total / n);
  const extra = total % n;
  const shares: ([number, number] | undefined)[] = [];
  let next = min;
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0);
    shares.push(size > 0 ? [next, next + size - 1] : undefined);
    next += size;
  }
  return shares;
}
