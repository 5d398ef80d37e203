/**
 * The package's entry point: the Nest module and what an embedding application uses.
 * The browser client library is the `./client` subpath export.
 */
export { StreamingModule, sessionOptionsOf } from './streaming.module';
export { STREAMING_MODULE_OPTIONS } from './streaming.module-definition';
export type { StreamingModuleExtras, StreamingModuleOptions, StreamingSessionOptions, StreamingSource } from './streaming.options';
export { StreamingHealthController, StreamingLifecycle } from './streaming.lifecycle';
export type { ReadinessBody } from './streaming.lifecycle';

export { SignallingGateway } from './signalling/signalling.gateway';
export { SignallingOptions } from './signalling/signalling.options';
export { LeanIoAdapter } from './signalling/lean-io.adapter';
export type { AuthorizeHook, AuthorizeResult, StreamingGatewayOptions, StreamingHandshake } from './signalling/signalling.options';

export { SessionService } from './session/session.service';
export type { SessionEvents } from './session/session.service';
export { SessionOptions } from './session/session.options';
export type { IceServerOption } from './session/session.options';
export { SessionModule } from './session/session.module';

export * from './media';
export { StreamingError } from './common/streaming-error';
export { DEFAULT_HEAP_GROWING_PERCENT, tuneHeapGrowing } from './common/gc-tuning';
export * from './protocol';

export { WhepService } from './whep/whep.service';
export type { WhepModuleOptions } from './whep/whep.options';
export { MetricsService } from './metrics/metrics.service';
export type { MetricsModuleOptions } from './metrics/metrics.options';
