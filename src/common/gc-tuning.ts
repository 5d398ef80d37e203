import { setFlagsFromString } from 'node:v8';

/** How much V8 lets the heap grow past what a full GC left alive, in percent (see below). */
export const DEFAULT_HEAP_GROWING_PERCENT = 100;

/**
 * Lets V8's heap grow to `percent` % above what the last full GC left alive before the
 * next one starts (V8's `--heap-growing-percent`; 0 keeps V8's own choice).
 *
 * Why: a fan-out server allocates little that lives long, but that little (packet history,
 * RTCP, timers) slowly fills the old generation. V8 picks its growing factor from how cheap
 * its GCs look, about 1.1-1.4 here, so with a few hundred sessions it started a full marking
 * of the whole heap (every session's objects) every 0.4-0.5 s; the marking threads then took
 * a third of the server's core (measured with `perf` in bench/fanout.mjs: 14-28 full GCs in a
 * 10 s window at 300 viewers, 3 with 100 %; 34.7 -> 19.4 us of CPU per viewer-packet). The
 * price is memory: the heap may reach twice its live size between two full GCs.
 *
 * Process-wide (worker threads share V8's flags); takes effect at the next GC. The service's
 * own entry point calls it (`HEAP_GROWING_PERCENT`); an application that embeds the module
 * decides for its own process, with this function or `node --heap-growing-percent=N`.
 */
export function tuneHeapGrowing(percent: number = DEFAULT_HEAP_GROWING_PERCENT): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
    throw new RangeError(`heap growing percent must be a whole number from 0 to 1000, not ${percent}`);
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
