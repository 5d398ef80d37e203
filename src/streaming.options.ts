import type { Type } from '@nestjs/common';
import type { MediaSource } from './media/media-source';
import type { SourceEntry } from './media/source-registry';
import type { IceServerConfig } from './protocol';
import type { SessionOptions } from './session/session.options';
import type { ClientLimitOptions } from './signalling/client-limits';
import type { AuthorizeHook, StreamingGatewayOptions } from './signalling/signalling.options';
import type { MetricsModuleOptions } from './metrics/metrics.options';
import type { WhepModuleOptions } from './whep/whep.options';

/** Injection token of the `StreamingModuleOptions` (exported by the module). */
export const STREAMING_MODULE_OPTIONS = Symbol('STREAMING_MODULE_OPTIONS');

export type { AuthorizeHook, AuthorizeResult, StreamingGatewayOptions, StreamingHandshake } from './signalling/signalling.options';
export type { IceServerOption } from './session/session.options';
export type { MetricsModuleOptions } from './metrics/metrics.options';
export type { WhepModuleOptions } from './whep/whep.options';
export type { ClientLimitOptions } from './signalling/client-limits';

/**
 * A media source: an instance, a class Nest instantiates (its constructor may inject the
 * host's providers), or a configuration (`{ id, kind: 'test' | 'rtp' | 'rtsp' | 'file', ... }`).
 */
export type StreamingSource = SourceEntry | Type<MediaSource>;

/** The session fields of the options (see `SessionOptions` for each one's meaning and default). */
export type StreamingSessionOptions = Partial<Omit<SessionOptions, never>>;

/**
 * Options of `StreamingModule.forRoot()` / `forRootAsync()`. Every field is optional.
 *
 * Session fields (`SessionOptions`): `iceServers` (STUN/TURN for werift, and for clients
 * unless `clientIceServers` is set), `announcedAddresses` (public IPs for NAT and
 * containers), `bindAddress`, `portRange` (UDP), `remoteAddressFilter`, `maxSessions` (per
 * node), `maxSessionsPerClient`, the timeouts, `dataChannelPing`.
 */
export interface StreamingModuleOptions extends StreamingSessionOptions {
  /** Where the socket.io gateway attaches: namespace, path, CORS. */
  gateway?: StreamingGatewayOptions;
  /** ICE servers handed to clients (`config:get`); default: `iceServers`. */
  clientIceServers?: IceServerConfig[];
  /**
   * The media sources, each with a unique id. When the first is an instance or a class it is
   * the default source (the `MediaSource` provider, used when a client names none);
   * otherwise the built-in test pattern (id `test`) is. Nest starts and stops them all.
   */
  sources?: StreamingSource[];
  /** Id of the source used when a client names none (default: the `MediaSource` provider's). */
  defaultSource?: string;
  /**
   * Decides, per connecting socket, whether it may connect. Default: everyone may. WHEP
   * requests go through it too (`auth.token` = the `Authorization: Bearer` token).
   */
  authorize?: AuthorizeHook;
  /** WHEP endpoints at `/whep` (on by default). */
  whep?: WhepModuleOptions;
  /** Prometheus metrics at `/metrics` (off by default; optionally behind a Bearer token). */
  metrics?: MetricsModuleOptions;
  /**
   * Per-client limits: sockets and sessions in progress per address, events per second per
   * socket, and how many proxies' X-Forwarded-For to trust. See the README ("Limits").
   */
  limits?: ClientLimitOptions;
}

/** Static extras of `forRoot`/`forRootAsync` (they shape the module, so they cannot be async). */
export interface StreamingModuleExtras {
  /** Register the module's providers globally. Default false. */
  isGlobal?: boolean;
  /** Serve `/health/live` and `/health/ready`. Default true. */
  health?: boolean;
}
