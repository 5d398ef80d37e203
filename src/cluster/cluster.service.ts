import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { Namespace, Server, Socket } from 'socket.io';
import { SessionService } from '../session/session.service';
import { ClusterOptions } from './cluster.options';

/** Viewer sessions per source on one node. */
export interface NodeViewerCounts {
  node: string;
  sources: Record<string, number>;
}

export interface ClusterViewerCounts {
  /** Sessions per source summed over every node that answered. */
  sources: Record<string, number>;
  /** Each node's own counts (this node first). */
  nodes: NodeViewerCounts[];
  /** false when some node did not answer in time (Redis down, a node dying). */
  complete: boolean;
}

export interface StopSourceResult {
  source: string;
  /** Sessions whose video was stopped, over every node that answered. */
  stopped: number;
  nodes: { node: string; stopped: number }[];
  complete: boolean;
}

export interface EndSessionResult {
  sessionId: string;
  /** Whether the node that owns the session answered and closed it. */
  found: boolean;
  node?: string;
  complete: boolean;
}

/** Server-to-server events (socket.io serverSideEmit over the Redis adapter). */
const EV = {
  viewers: 'cluster:viewers',
  stopSource: 'cluster:stop-source',
  endSession: 'cluster:end-session',
} as const;

type Loose = Server & {
  on(event: string, fn: (...args: any[]) => void): Loose;
  serverSideEmit(event: string, ...args: unknown[]): boolean;
};

/**
 * What concerns every node of a cluster: viewer counts per source, and the operator's
 * "stop every viewer of this source" and "end this session". Each node answers for its own
 * sessions (a session lives on the node that holds its socket); requests travel with
 * socket.io's serverSideEmit, so through Redis when the Redis adapter is in use, and stay
 * local on a single node. Also says hello to each socket (with this node's id) and tells
 * the clients when the node drains.
 */
@Injectable()
export class ClusterService implements BeforeApplicationShutdown {
  private readonly log = new Logger(ClusterService.name);
  private server?: Loose;
  private draining = false;

  constructor(
    private readonly sessions: SessionService,
    readonly options: ClusterOptions,
  ) {}

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Called by the signalling gateway with its socket.io server. */
  attach(server: Server): void {
    const s = (this.server = server as Loose);
    s.on('connection', (socket: Socket) => {
      socket.emit('server:hello', { node: this.nodeId });
      if (this.draining) socket.emit('server:draining', { node: this.nodeId });
    });
    s.on(EV.viewers, (ack: (r: NodeViewerCounts) => void) => ack(this.localViewerCounts()));
    s.on(EV.stopSource, (source: string, ack: (r: { node: string; stopped: number }) => void) => {
      void this.stopLocal(source).then((stopped) => ack({ node: this.nodeId, stopped }));
    });
    s.on(EV.endSession, (id: string, reason: string, ack: (r: { node: string; found: boolean }) => void) =>
      ack({ node: this.nodeId, found: this.endLocal(id, reason) }),
    );
  }

  /** This node's open sessions per source. */
  localViewerCounts(): NodeViewerCounts {
    const sources: Record<string, number> = {};
    for (const s of this.sessions.summaries()) sources[s.source] = (sources[s.source] ?? 0) + 1;
    return { node: this.nodeId, sources };
  }

  /** Viewer sessions per source over the whole cluster. */
  async viewerCounts(): Promise<ClusterViewerCounts> {
    const local = this.localViewerCounts();
    const { responses, complete } = await this.ask<NodeViewerCounts>(EV.viewers);
    const nodes = [local, ...responses.filter((r) => r && typeof r.node === 'string')];
    const sources: Record<string, number> = {};
    for (const n of nodes) for (const [k, v] of Object.entries(n.sources)) sources[k] = (sources[k] ?? 0) + v;
    return { sources, nodes, complete };
  }

  /** Stops the video of every session of a source, on every node (the data channels stay). */
  async stopSourceVideo(source: string): Promise<StopSourceResult> {
    const [stopped, { responses, complete }] = await Promise.all([
      this.stopLocal(source),
      this.ask<{ node: string; stopped: number }>(EV.stopSource, source),
    ]);
    const nodes = [{ node: this.nodeId, stopped }, ...responses];
    return { source, stopped: nodes.reduce((n, r) => n + r.stopped, 0), nodes, complete };
  }

  /** Ends one session wherever it lives. */
  async endSession(sessionId: string, reason = 'ended-by-operator'): Promise<EndSessionResult> {
    if (this.endLocal(sessionId, reason)) return { sessionId, found: true, node: this.nodeId, complete: true };
    const { responses, complete } = await this.ask<{ node: string; found: boolean }>(EV.endSession, sessionId, reason);
    const owner = responses.find((r) => r.found);
    return { sessionId, found: !!owner, ...(owner ? { node: owner.node } : {}), complete };
  }

  /** Tells this node's clients that it is going away, then gives the notice time to leave. */
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    const s = this.server;
    if (!s || s.sockets.sockets.size === 0) return;
    this.log.log(`draining: telling ${s.sockets.sockets.size} client(s)`);
    s.local.emit('server:draining' as never, { node: this.nodeId } as never);
    await new Promise((r) => setTimeout(r, this.options.drainNoticeMs));
  }

  // --- internals ---------------------------------------------------------------------

  private async stopLocal(source: string): Promise<number> {
    const targets = this.sessions.summaries().filter((s) => s.source === source);
    const results = await Promise.allSettled(targets.map((s) => this.sessions.stopVideoById(s.id, 'stopped-by-operator')));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  private endLocal(sessionId: string, reason: string): boolean {
    return this.sessions.closeById(sessionId, reason);
  }

  /**
   * Asks every other node; resolves with the answers that came in time. On a single node
   * (socket.io's in-memory adapter cannot serverSideEmit) there is nobody to ask.
   */
  private ask<T>(event: string, ...args: unknown[]): Promise<{ responses: T[]; complete: boolean }> {
    const s = this.server;
    // socket.io's in-memory adapter neither throws nor calls back: it warns on stderr (past
    // LOG_LEVEL, once per call) and the answer would wait for our timer. Nobody to ask.
    if (!s || !canServerSideEmit(s)) return Promise.resolve({ responses: [], complete: true });
    const ms = this.options.requestTimeoutMs;
    return new Promise((resolve) => {
      let done = false;
      const finish = (responses: T[], complete: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(guard);
        resolve({ responses, complete });
      };
      // The adapter's own timeout (its requestsTimeout) starts only once it has counted the
      // nodes through Redis; when Redis is down that never answers, so our timer bounds it.
      const guard = setTimeout(() => finish([], false), ms + 500);
      try {
        s.serverSideEmit(event, ...args, (err: Error | null, responses: T[]) =>
          finish(responses ?? [], !err),
        );
      } catch (err) {
        this.log.warn(`${event}: ${(err as Error).message}`);
        finish([], false);
      }
    });
  }
}

/**
 * Whether the server's adapter reaches other nodes. socket.io's in-memory `Adapter` (the
 * root of every adapter class) only warns in `serverSideEmit`; an adapter that talks to
 * other nodes (Redis, cluster) overrides it. Found by walking the prototype chain, so no
 * import of socket.io-adapter (whose copy might differ from socket.io's own).
 */
export function canServerSideEmit(server: Server | Namespace): boolean {
  const adapter = (server as Namespace).adapter;
  const target: object | undefined = typeof adapter === 'object' && adapter ? adapter : (server as Server).of?.('/')?.adapter;
  if (!target) return false;
  const own = (target as { serverSideEmit?: unknown }).serverSideEmit;
  // The root-most prototype that defines serverSideEmit is socket.io's in-memory Adapter.
  let root: unknown;
  for (let p = Object.getPrototypeOf(target); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, 'serverSideEmit')) root = (p as { serverSideEmit: unknown }).serverSideEmit;
  }
  return typeof own === 'function' && own !== root;
}
