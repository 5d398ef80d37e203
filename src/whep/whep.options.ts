/** WHEP endpoint settings (module option `whep`). */
export interface WhepModuleOptions {
  /** Serve `/whep` (default true). */
  enabled?: boolean;
  /**
   * Origins whose pages may call the WHEP endpoints (CORS): `true` = any (the default),
   * or a list of origins like `https://example.org`.
   */
  allowOrigin?: true | string[];
  /** How long a POST waits for the server's ICE candidates before answering (ms, default 2000). */
  gatherTimeoutMs?: number;
}

export class WhepOptions {
  enabled = true;
  allowOrigin: true | string[] = true;
  gatherTimeoutMs = 2000;

  static from(o: WhepModuleOptions = {}): WhepOptions {
    return Object.assign(
      new WhepOptions(),
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
    );
  }
}
