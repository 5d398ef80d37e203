import type { Logger } from '@nestjs/common';

/**
 * What a session holds besides werift's objects: its subscriptions, listeners and timers,
 * released together, once, by `release()` (from `Session.close()`).
 */
export class SessionResources {
  private readonly disposers: Array<() => void> = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly log: Logger) {}

  /** Something to undo on release (a listener to remove, a watcher to stop). */
  add(dispose: () => void): void {
    this.disposers.push(dispose);
  }

  /** A werift subscription, unsubscribed on release. */
  on(sub: { unSubscribe: () => void }): void {
    this.disposers.push(() => sub.unSubscribe());
  }

  /** A timer, cleared on release if it has not fired. */
  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  release(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const dispose of this.disposers.splice(0)) {
      try {
        dispose();
      } catch (err) {
        this.log.warn(`release: ${(err as Error).message}`);
      }
    }
  }
}
