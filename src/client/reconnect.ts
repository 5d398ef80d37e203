import type { ReconnectInfo, ReconnectOptions } from './client-types.js';

/**
 * Close reasons after which a session restarts: the node went away, or the network path
 * did, not the session itself.
 */
export const RESTARTABLE = new Set(['signalling-lost', 'server-shutdown', 'server-draining', 'ice-failed', 'ice-disconnected', 'media-worker-failed']);

/** What the restart loop needs from its session. */
export interface ReconnectHost {
  /** Whether the session still waits to be restarted (not closed, not restarted already). */
  reconnecting(): boolean;
  socketConnected(): boolean;
  /** Why the session was lost (for the `reconnecting` event). */
  reason(): string;
  /** An attempt is scheduled. */
  announce(info: ReconnectInfo): void;
  /** A new peer connection and server session; resolves with the new id. */
  renew(): Promise<string>;
  /** The restart worked: the session lives again under `id`. */
  restored(id: string): void;
  /** Every attempt failed. */
  giveUp(): void;
}

/** Restarts a lost session with backoff: a new peer connection and server session, same options. */
export class Reconnector {
  /** Restart attempts since the session was lost. */
  private attempts = 0;
  private running = false;
  /** Wakes a restart waiting for its next attempt (the socket came back). */
  private wake?: () => void;

  constructor(
    private readonly options: Required<ReconnectOptions>,
    private readonly host: ReconnectHost,
  ) {}

  /** The signalling socket is up again: try now (or start the loop if it had ended). */
  socketUp(): void {
    if (this.wake) this.wake();
    else void this.run();
  }

  /** Ends a wait at once (the session closed). */
  wakeUp(): void {
    this.wake?.();
  }

  async run(): Promise<void> {
    const r = this.options;
    const host = this.host;
    if (this.running) return;
    this.running = true;
    try {
      while (host.reconnecting()) {
        if (this.attempts >= r.maxAttempts) return host.giveUp();
        const delay = this.attempts === 0 ? 0 : Math.min(r.baseDelayMs * 2 ** (this.attempts - 1), r.maxDelayMs) * (0.75 + Math.random() / 2);
        this.attempts++;
        host.announce({ attempt: this.attempts, maxAttempts: r.maxAttempts, retryAt: Date.now() + Math.round(delay), reason: host.reason() });
        // A node that shuts down closes its sessions before its sockets: wait for the socket
        // to come back (or the attempt's time), whichever is first.
        if (delay || !host.socketConnected()) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay || r.baseDelayMs);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
        }
        if (!host.reconnecting()) return;
        if (!host.socketConnected()) continue; // this attempt failed: no signalling
        try {
          const id = await host.renew();
          if (!host.reconnecting()) return; // closed meanwhile
          this.attempts = 0;
          host.restored(id);
          return;
        } catch (err) {
          console.warn('session restart failed', err);
        }
      }
    } finally {
      this.running = false;
      this.wake = undefined;
    }
  }
}
