import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * How this node takes part in a cluster. Provided by the application (the module never
 * reads the environment); every field has a default.
 */
export class ClusterOptions {
  /** This node's name in cluster answers and in `server:hello` (default: host name + random). */
  nodeId = `${hostname()}-${randomBytes(3).toString('hex')}`;
  /**
   * Bearer token for the operator endpoints under `/admin`. Without one they answer 404:
   * they are off.
   */
  adminToken?: string;
  /** How long a cluster-wide request waits for the other nodes' answers. */
  requestTimeoutMs = 2_000;
  /**
   * On shutdown, how long the node waits after telling its clients (`server:draining`)
   * before it closes their sockets (only when it has any).
   */
  drainNoticeMs = 300;

  static from(partial: Partial<ClusterOptions> = {}): ClusterOptions {
    const o = new ClusterOptions();
    for (const [k, v] of Object.entries(partial)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
    return o;
  }
}
