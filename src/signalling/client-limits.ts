import type { IncomingMessage } from 'node:http';
import type * as Rlf from 'rate-limiter-flexible';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode } from '../protocol';

// The package's index loads every store it supports (Redis, Mongo, SQL, Dynamo...: about 1 MB
// of heap in every process); these three files are all the gateway uses. The version is
// pinned in package.json, so the paths cannot move under us.
const BurstyRateLimiter = require('rate-limiter-flexible/lib/BurstyRateLimiter') as typeof Rlf.BurstyRateLimiter;
const RateLimiterMemory = require('rate-limiter-flexible/lib/RateLimiterMemory') as typeof Rlf.RateLimiterMemory;
const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes') as typeof Rlf.RateLimiterRes;
type BurstyRateLimiter = Rlf.BurstyRateLimiter;
type RateLimiterMemory = Rlf.RateLimiterMemory;

/**
 * Per-client limits of the signalling gateway (see the README, "Limits"). Every field has a
 * default; `0` turns a limit off.
 */
export interface ClientLimitOptions {
  /** Sockets one address may hold at once; more are refused at connect with TOO_MANY_CONNECTIONS. Default 50. */
  maxSocketsPerAddress?: number;
  /**
   * Sessions one address may have in progress (started, not yet streaming, data-only or
   * closed); more `session:start`s are refused with CAPACITY_EXCEEDED. Default 16.
   */
  maxSessionsInProgressPerAddress?: number;
  /** Events one socket may send per second, sustained; over it, RATE_LIMITED. Default 50. */
  eventsPerSecond?: number;
  /** Extra events a socket may send over `eventsPerSecond` within any 10 s (a burst). Default 100. */
  eventBurst?: number;
  /**
   * Proxies in front of the service that append the client's address to `X-Forwarded-For`
   * (a load balancer: 1). The address is then the entry that many places from the right;
   * with 0 (the default) it is the connection's own address and the header is ignored (a
   * client could write anything in it).
   */
  trustProxy?: number;
}

export const DEFAULT_CLIENT_LIMITS: Required<ClientLimitOptions> = {
  maxSocketsPerAddress: 50,
  maxSessionsInProgressPerAddress: 16,
  eventsPerSecond: 50,
  eventBurst: 100,
  trustProxy: 0,
};

/** Window over which `eventBurst` extra events are allowed. */
const BURST_WINDOW_S = 10;

/** The client's address: the connection's, or the trusted proxy's entry in X-Forwarded-For. */
export function clientAddress(remote: string | undefined, headers: IncomingMessage['headers'], trustProxy: number): string {
  const own = (remote ?? '').replace(/^::ffff:/, '');
  if (trustProxy <= 0) return own;
  const raw = headers['x-forwarded-for'];
  const hops = (Array.isArray(raw) ? raw.join(',') : (raw ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const entry = hops[hops.length - trustProxy];
  return entry ? entry.replace(/^::ffff:/, '') : own;
}

/**
 * Counts per address (sockets, sessions in progress) and rate-limits events per socket with
 * rate-limiter-flexible (a sustained rate plus a burst allowance). Knows nothing of socket.io.
 */
export class ClientLimits {
  readonly options: Required<ClientLimitOptions>;
  private readonly sockets = new Map<string, number>();
  private readonly inProgress = new Map<string, number>();
  /** Session id -> its release, while the session is in progress. */
  private readonly pending = new Map<string, () => void>();
  /** Ids of sessions closed with no place registered yet (oldest first). */
  private readonly closedEarly = new Set<string>();
  private readonly events?: BurstyRateLimiter;
  private readonly limiters: RateLimiterMemory[] = [];

  constructor(options: ClientLimitOptions = {}) {
    const o = (this.options = { ...DEFAULT_CLIENT_LIMITS, ...definedOnly(options) });
    if (o.eventsPerSecond > 0) {
      const rate = new RateLimiterMemory({ keyPrefix: 'rate', points: o.eventsPerSecond, duration: 1 });
      const burst = new RateLimiterMemory({ keyPrefix: 'burst', points: Math.max(o.eventBurst, 0) || 1, duration: BURST_WINDOW_S });
      this.limiters.push(rate, burst);
      this.events = new BurstyRateLimiter(rate, burst);
    }
  }

  address(remote: string | undefined, headers: IncomingMessage['headers']): string {
    return clientAddress(remote, headers, this.options.trustProxy);
  }

  /** Counts a connecting socket; returns its release, or a refusal message. */
  openSocket(address: string): (() => void) | string {
    const max = this.options.maxSocketsPerAddress;
    const n = this.sockets.get(address) ?? 0;
    if (max > 0 && n >= max) return `at most ${max} connections per address`;
    this.sockets.set(address, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.sockets, address);
    };
  }

  /** Before a session:start: reserves a place among the address's sessions in progress, or throws. */
  beginSession(address: string): { started(sessionId: string): void; release(): void } {
    const max = this.options.maxSessionsInProgressPerAddress;
    const n = this.inProgress.get(address) ?? 0;
    if (max > 0 && n >= max) {
      throw new StreamingError(ErrorCode.CAPACITY_EXCEEDED, `at most ${max} sessions in progress per address; retry once one is up`);
    }
    this.inProgress.set(address, n + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      decrement(this.inProgress, address);
    };
    return {
      release,
      started: (sessionId) => {
        // Closed while the start was being answered (its client went): nothing to wait for.
        if (this.closedEarly.delete(sessionId)) return release();
        this.pending.set(sessionId, () => {
          this.pending.delete(sessionId);
          release();
        });
      },
    };
  }

  /** A session left `connecting` (streaming, data-only or closed): it no longer counts. */
  settled(sessionId: string, closed: boolean): void {
    const release = this.pending.get(sessionId);
    if (release) return release();
    if (!closed) return;
    // Perhaps closed before its start returned: remembered for `started` (a few only).
    this.closedEarly.add(sessionId);
    if (this.closedEarly.size > 1_000) this.closedEarly.delete(this.closedEarly.values().next().value as string);
  }

  /** Whether a socket may send one more event now. */
  async allowEvent(socketId: string): Promise<boolean> {
    if (!this.events) return true;
    try {
      await this.events.consume(socketId);
      return true;
    } catch (err) {
      if (err instanceof RateLimiterRes) return false;
      throw err;
    }
  }

  /** The socket is gone: forget its rate. */
  forgetSocket(socketId: string): void {
    for (const l of this.limiters) void l.delete(socketId);
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
