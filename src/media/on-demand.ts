import type { Logger } from '@nestjs/common';

/** What an on-demand source gives its `OnDemand` (see `MediaSource.setOnDemand`). */
export interface OnDemandHost {
  isEnded(): boolean;
  readonly logger: Logger;
  /** Video and audio listeners: a viewer who stopped only the video still hears the source. */
  listeners(): number;
  /** The source's own start/stop, and the state changes around them. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called when a start failed or after a stop (the next viewer waits for a fresh keyframe). */
  failed(): void;
  stopped(): void;
}

/**
 * An on-demand source's schedule: it starts when its first listener comes and stops
 * `lingerMs` after its last one left, one start or stop at a time (a viewer back within the
 * linger time cancels the stop).
 */
export class OnDemand {
  private wanted = false;
  private _running = false;
  private chain: Promise<void> = Promise.resolve();
  private linger?: NodeJS.Timeout;

  constructor(
    readonly lingerMs: number,
    private readonly host: OnDemandHost,
  ) {}

  get running(): boolean {
    return this._running;
  }

  /** After every subscribe and every listener that left. */
  listenersChanged(): void {
    if (this.host.isEnded()) return;
    if (this.host.listeners() > 0) {
      clearTimeout(this.linger);
      this.linger = undefined;
      if (!this.wanted) {
        this.wanted = true;
        void this.apply();
      }
    } else if (this.wanted && !this.linger) {
      this.linger = setTimeout(() => {
        this.linger = undefined;
        if (this.host.listeners() > 0) return;
        this.wanted = false;
        void this.apply();
      }, this.lingerMs);
      this.linger.unref();
    }
  }

  /** The source is shutting down: stop now if it runs, whatever the listeners. */
  shutdown(): Promise<void> {
    clearTimeout(this.linger);
    this.linger = undefined;
    this.wanted = false;
    return this.apply();
  }

  /** Starts or stops the source to match what the listeners want; runs one at a time. */
  private apply(): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.wanted && !this._running && !this.host.isEnded()) {
        this._running = true;
        try {
          await this.host.start();
        } catch (err) {
          this.host.logger.error(`on-demand start failed: ${(err as Error).message}`);
          this._running = false;
          this.wanted = false;
          await this.host.stop().catch(() => undefined);
          this.host.failed();
        }
      } else if (!this.wanted && this._running) {
        this._running = false;
        await this.host.stop();
        this.host.stopped();
      }
    });
    return this.chain;
  }
}
