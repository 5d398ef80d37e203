export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Check<T> = () => T | undefined | null | false | Promise<T | undefined | null | false>;

/**
 * Polls `check` until it returns a value (not undefined, null or false) and returns it;
 * after `timeoutMs` throws, naming `what` and the last error `check` threw. Prefer awaiting
 * an event when there is one: this is for state that has none (counts, sockets, HTTP).
 */
export async function until<T>(what: string | (() => string), check: Check<T>, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      const name = typeof what === 'function' ? what() : what;
      throw new Error(`timed out (${timeoutMs} ms) waiting until ${name}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await sleep(everyMs);
  }
}
