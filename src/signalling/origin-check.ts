import type { ServerOptions } from 'socket.io';

type CorsOptions = NonNullable<ServerOptions['cors']>;
type OriginRule = string | RegExp | boolean | (string | RegExp)[];

/**
 * The handshake's Origin check from the CORS option, with the `cors` package's meaning of
 * `origin`: a string, RegExp, a list of them, or a function `(origin, cb)`. Returns
 * undefined when every origin is allowed (no option, `true`, `'*'`): then nothing is checked.
 */
export function originChecker(cors: ServerOptions['cors'] | undefined): ((origin: string) => Promise<boolean>) | undefined {
  if (!cors || typeof cors !== 'object') return undefined;
  const rule = (cors as CorsOptions & { origin?: unknown }).origin;
  if (rule === undefined || rule === true || rule === '*') return undefined;
  if (typeof rule === 'function') {
    const fn = rule as (origin: string, cb: (err: Error | null, allow?: OriginRule) => void) => void;
    return (origin) =>
      new Promise((resolve) => fn(origin, (err, allow) => resolve(!err && matches(origin, allow ?? false))));
  }
  return (origin) => Promise.resolve(matches(origin, rule as OriginRule));
}

function matches(origin: string, rule: OriginRule): boolean {
  if (rule === true || rule === '*') return true;
  if (rule === false) return false;
  if (Array.isArray(rule)) return rule.some((r) => matches(origin, r));
  if (rule instanceof RegExp) return rule.test(origin);
  return typeof rule === 'string' && rule === origin;
}
