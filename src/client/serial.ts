/**
 * Runs async steps one at a time, in the order they were queued (an offer from the server
 * waits for ours). A step that fails does not stop the ones behind it. The client's one
 * promise chain.
 */
export class SerialQueue {
  private chain: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Forgets the steps still queued (a restarted session starts on a fresh chain). */
  reset(): void {
    this.chain = Promise.resolve();
  }
}
