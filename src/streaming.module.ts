import { DynamicModule, Module, Provider, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { WebSocketGateway } from '@nestjs/websockets';
import { GATEWAY_OPTIONS } from '@nestjs/websockets/constants';
import { MediaSource } from './media/media-source';
import { MEDIA_MODULE_OPTIONS, MediaModuleOptions, MediaSourceRegistry, SourceEntry } from './media/source-registry';
import { TestPatternSource } from './media/test-pattern.source';
import { SessionOptions } from './session/session.options';
import { SessionService } from './session/session.service';
import { SignallingGateway } from './signalling/signalling.gateway';
import { SignallingOptions } from './signalling/signalling.options';
import { StreamingHealthController, StreamingLifecycle } from './streaming.lifecycle';
import {
  STREAMING_ASYNC_OPTIONS_TYPE,
  STREAMING_MODULE_OPTIONS,
  STREAMING_OPTIONS_TYPE,
  StreamingConfigurableModule,
} from './streaming.module-definition';
import type { StreamingModuleOptions, StreamingSource } from './streaming.options';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsOptions } from './metrics/metrics.options';
import { MetricsService } from './metrics/metrics.service';
import { WhepController } from './whep/whep.controller';
import { WhepOptions } from './whep/whep.options';
import { WhepService } from './whep/whep.service';

/** The options that are not SessionOptions fields. */
const NOT_SESSION = new Set<string>(['gateway', 'clientIceServers', 'sources', 'defaultSource', 'authorize', 'whep', 'metrics', 'limits']);

/** SessionOptions from the module options (unset fields keep their defaults). */
export function sessionOptionsOf(o: StreamingModuleOptions): SessionOptions {
  const fields = Object.entries(o).filter(([k, v]) => v !== undefined && !NOT_SESSION.has(k));
  return SessionOptions.from(Object.fromEntries(fields) as Partial<SessionOptions>);
}

function isClass(s: StreamingSource): s is Type<MediaSource> {
  return typeof s === 'function';
}

/** The default source: the first entry when it is an instance or a class; else the test pattern. */
async function defaultSourceOf(o: StreamingModuleOptions, moduleRef: ModuleRef): Promise<MediaSource> {
  const first = o.sources?.[0];
  if (first instanceof MediaSource) return first;
  if (first && isClass(first)) return moduleRef.create(first);
  return new TestPatternSource();
}

/** The named sources besides the default one, for the registry (classes instantiated by Nest). */
async function namedSourcesOf(o: StreamingModuleOptions, moduleRef: ModuleRef): Promise<MediaModuleOptions> {
  const all = o.sources ?? [];
  const rest = all.length && (all[0] instanceof MediaSource || isClass(all[0])) ? all.slice(1) : all;
  const sources: SourceEntry[] = [];
  for (const s of rest) sources.push(isClass(s) ? await moduleRef.create(s) : s);
  return { sources, defaultSource: o.defaultSource };
}

/** Marker provider: applies the runtime gateway options to this module's gateway class. */
class GatewaySetup {}

/**
 * A gateway class of our own per module definition. `@WebSocketGateway` options are static
 * metadata, read when the application initialises (after every provider is built), so the
 * namespace, path and CORS from (possibly async) options are written onto this subclass by
 * the `GatewaySetup` provider in time. Handlers, pipes and filters are inherited.
 */
function createGatewayClass(): Type<SignallingGateway> {
  class StreamingGateway extends SignallingGateway {}
  WebSocketGateway(Reflect.getMetadata(GATEWAY_OPTIONS, SignallingGateway) ?? {})(StreamingGateway);
  return StreamingGateway;
}

function parts(definition: DynamicModule, health: boolean | undefined): DynamicModule {
  const Gateway = createGatewayClass();
  const providers: Provider[] = [
    // First: on shutdown it closes the sessions before the sources end and the gateway stops.
    StreamingLifecycle,
    ...(definition.providers ?? []),
    { provide: SessionOptions, useFactory: sessionOptionsOf, inject: [STREAMING_MODULE_OPTIONS] },
    {
      provide: SignallingOptions,
      useFactory: (o: StreamingModuleOptions) =>
        SignallingOptions.from({
          gateway: o.gateway ?? {},
          authorize: o.authorize,
          clientIceServers: o.clientIceServers ?? o.iceServers ?? [],
          limits: o.limits ?? {},
        }),
      inject: [STREAMING_MODULE_OPTIONS],
    },
    {
      provide: GatewaySetup,
      useFactory: (s: SignallingOptions) => {
        const base = Reflect.getMetadata(GATEWAY_OPTIONS, SignallingGateway) ?? {};
        const { namespace, path, cors } = s.gateway;
        Reflect.defineMetadata(
          GATEWAY_OPTIONS,
          { ...base, ...(namespace ? { namespace } : {}), ...(path ? { path } : {}), ...(cors !== undefined ? { cors } : {}) },
          Gateway,
        );
        return new GatewaySetup();
      },
      inject: [SignallingOptions],
    },
    { provide: MediaSource, useFactory: defaultSourceOf, inject: [STREAMING_MODULE_OPTIONS, ModuleRef] },
    { provide: MEDIA_MODULE_OPTIONS, useFactory: namedSourcesOf, inject: [STREAMING_MODULE_OPTIONS, ModuleRef] },
    MediaSourceRegistry,
    SessionService,
    Gateway,
    { provide: WhepOptions, useFactory: (o: StreamingModuleOptions) => WhepOptions.from(o.whep), inject: [STREAMING_MODULE_OPTIONS] },
    WhepService,
    { provide: MetricsOptions, useFactory: (o: StreamingModuleOptions) => MetricsOptions.from(o.metrics), inject: [STREAMING_MODULE_OPTIONS] },
    MetricsService,
  ];
  return {
    ...definition,
    providers,
    controllers: [...(health === false ? [] : [StreamingHealthController]), WhepController, MetricsController],
    exports: [SessionService, SessionOptions, MediaSource, MediaSourceRegistry, StreamingLifecycle, SignallingOptions, WhepService, MetricsService],
  };
}

/**
 * Live video to browsers over WebRTC, for any Nest application: the socket.io signalling
 * gateway, the werift sessions, the media sources, health endpoints and a graceful
 * shutdown. Configure it with `forRoot(options)` or `forRootAsync({ useFactory, inject })`;
 * it never reads `process.env`.
 */
@Module({})
export class StreamingModule extends StreamingConfigurableModule {
  static forRoot(options: typeof STREAMING_OPTIONS_TYPE = {}): DynamicModule {
    return parts(super.forRoot(options), options.health);
  }

  static forRootAsync(options: typeof STREAMING_ASYNC_OPTIONS_TYPE): DynamicModule {
    return parts(super.forRootAsync(options), options.health);
  }
}
