import { INestApplicationContext, Logger } from '@nestjs/common';
// Types only: both packages are required when a node actually connects to Redis, so a
// process without REDIS_URL does not load node-redis's 500 modules (about 3 MB of heap).
import type * as RedisAdapter from '@socket.io/redis-adapter';
import type * as Redis from 'redis';
import type { Server, ServerOptions } from 'socket.io';
import { LeanIoAdapter } from '../signalling/lean-io.adapter';

type RedisClient = ReturnType<typeof Redis.createClient>;

export interface RedisIoAdapterOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url: string;
  /** socket.io-redis request timeout (fetchSockets, serverSideEmit with ack). */
  requestsTimeoutMs?: number;
  /** Longest pause between two reconnection attempts (ms). */
  maxReconnectDelayMs?: number;
}

/**
 * socket.io with the Redis adapter: broadcasts and server-side emits reach every node.
 *
 * Redis being down must not take the node down: the clients reconnect forever with a capped
 * backoff, their errors are logged (once per outage), every command the adapter fires and
 * forgets gets a rejection handler (an in-flight PUBLISH fails when the connection drops,
 * and an unhandled rejection would end the process), and socket.io keeps serving the
 * node's own sockets meanwhile. The node starts even when Redis is not there yet.
 */
export class RedisIoAdapter extends LeanIoAdapter {
  private readonly log = new Logger('RedisIoAdapter');
  private readonly clients: RedisClient[] = [];
  private adapterConstructor?: ReturnType<typeof RedisAdapter.createAdapter>;
  private down = false;

  constructor(
    app: INestApplicationContext,
    private readonly opts: RedisIoAdapterOptions,
  ) {
    super(app);
  }

  /** Creates the clients and starts connecting; does not wait for Redis. */
  connect(): this {
    const { createClient } = require('redis') as typeof Redis;
    const { createAdapter } = require('@socket.io/redis-adapter') as typeof RedisAdapter;
    const maxDelay = this.opts.maxReconnectDelayMs ?? 2_000;
    const pub = createClient({
      url: this.opts.url,
      socket: {
        connectTimeout: 2_000,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, maxDelay) + Math.floor(Math.random() * 100),
      },
    });
    const sub = pub.duplicate();
    for (const [name, c] of [['pub', pub], ['sub', sub]] as const) {
      c.on('error', (err: Error) => {
        if (this.down) return;
        this.down = true;
        this.log.warn(`redis ${name}: ${err.message}; serving this node's sockets only until it is back`);
      });
      c.on('ready', () => {
        if (this.down) this.log.log(`redis ${name}: connected again`);
        if (pub.isReady && sub.isReady) this.down = false;
      });
      c.connect().catch((err: Error) => this.log.error(`redis ${name}: ${err.message}`));
      this.clients.push(c);
    }
    guardFireAndForget(pub);
    guardFireAndForget(sub);
    keepSubscriptions(sub, this.log);
    this.adapterConstructor = createAdapter(pub, sub, { requestsTimeout: this.opts.requestsTimeoutMs ?? 2_000 });
    return this;
  }

  /** Both Redis connections are up. */
  get ready(): boolean {
    return this.clients.length > 0 && this.clients.every((c) => c.isReady);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    if (!this.adapterConstructor) this.connect();
    const server: Server = super.createIOServer(port, options);
    server.adapter(this.adapterConstructor!);
    return server;
  }

  override async dispose(): Promise<void> {
    await super.dispose();
    await Promise.allSettled(
      this.clients.splice(0).map((c) =>
        c.isOpen ? Promise.race([c.quit(), delay(1_000).then(() => c.disconnect())]) : c.disconnect(),
      ),
    );
  }
}

/**
 * The Redis adapter subscribes once, when a namespace is created, and does not handle the
 * promise. node-redis registers a subscription's listener only when Redis confirms it, so a
 * SUBSCRIBE lost with its connection (Redis going away while a node starts, or a reset in the
 * middle of the reconnection's handshake) was forgotten: the reconnection re-subscribed
 * everything else, and that node, still answering its own sockets, silently left the cluster
 * (no broadcasts from the others, not counted in their requests) until it was restarted; the
 * rejection itself was unhandled. Now a subscription that fails while the client is still
 * open is made again once the client is ready, as often as it takes.
 */
function keepSubscriptions(client: RedisClient, log: Logger): void {
  const c = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['subscribe', 'SUBSCRIBE', 'pSubscribe', 'PSUBSCRIBE', 'sSubscribe', 'SSUBSCRIBE']) {
    const original = c[name];
    if (typeof original !== 'function') continue;
    c[name] = function kept(this: unknown, ...args: unknown[]) {
      const attempt = (): unknown => {
        const result = original.apply(client, args);
        if (result && typeof (result as Promise<unknown>).catch === 'function') {
          (result as Promise<unknown>).catch((err: Error) => {
            if (!client.isOpen) return; // quit or disconnected on purpose: nothing to keep
            log.warn(`redis sub: ${name} ${JSON.stringify(args[0])} failed (${err.message}); again once reconnected`);
            client.once('ready', () => void attempt());
          });
        }
        return result;
      };
      return attempt();
    };
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * The Redis adapter calls `publish` (and `sendCommand` for PUBSUB NUMSUB) without handling
 * the promise. Attach a no-op rejection handler to each; callers that await still see the
 * rejection.
 */
function guardFireAndForget(client: RedisClient): void {
  const c = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['publish', 'PUBLISH', 'sendCommand']) {
    const original = c[name];
    if (typeof original !== 'function') continue;
    c[name] = function guarded(this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args);
      if (result && typeof (result as Promise<unknown>).catch === 'function') (result as Promise<unknown>).catch(() => undefined);
      return result;
    };
  }
}
