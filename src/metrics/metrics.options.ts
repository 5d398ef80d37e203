/** Prometheus endpoint settings (module option `metrics`). */
export interface MetricsModuleOptions {
  /** Serve `GET /metrics` (default false; true when a `token` is given). */
  enabled?: boolean;
  /** When set, `/metrics` requires `Authorization: Bearer <token>`. */
  token?: string;
  /** Also collect prom-client's Node.js process metrics (event-loop lag, heap, CPU; default true). */
  processMetrics?: boolean;
}

export class MetricsOptions {
  enabled = false;
  token?: string;
  processMetrics = true;

  static from(o: MetricsModuleOptions = {}): MetricsOptions {
    const m = Object.assign(new MetricsOptions(), Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
    if (o.enabled === undefined && o.token) m.enabled = true;
    return m;
  }
}
