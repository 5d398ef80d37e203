/** One fix to werift's compiled classes, applied once per loaded copy of werift. */
export interface WeriftFix {
  /** Short name, also used in docs/werift-upstream.md. */
  readonly name: string;
  /** Replaces or wraps werift's methods; throws if what it changes is not there. */
  apply(): void;
}

/** Wraps `obj[key]` (a function), failing loudly when werift no longer has it. */
export function wrapMethod<F extends (...args: any[]) => any>(
  obj: Record<string, any>,
  key: string,
  wrap: (original: F) => F,
): void {
  const original = obj[key] as F | undefined;
  if (typeof original !== 'function') throw new Error(`${key} is not a function`);
  obj[key] = wrap(original);
}
