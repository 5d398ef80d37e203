import { DynamicModule, Module, Provider, Type } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { GATEWAY_OPTIONS } from '@nestjs/websockets/constants';
import type { ModuleAsyncOptions } from '../common/async-options';
import { SignallingGateway } from './signalling.gateway';
import { SignallingOptions } from './signalling.options';

/** Marker provider: applies the runtime gateway options to this module's gateway class. */
class GatewaySetup {}

/**
 * A gateway class of our own per module instance. `@WebSocketGateway` options are static
 * metadata, read when the application initialises (after every provider is built), so the
 * namespace, path and CORS from (possibly async) options are written onto this subclass by
 * the `GatewaySetup` provider in time. Handlers, pipes and filters are inherited.
 */
function gatewayProviders(): Provider[] {
  class StreamingGateway extends SignallingGateway {}
  const base = Reflect.getMetadata(GATEWAY_OPTIONS, SignallingGateway) ?? {};
  WebSocketGateway(base)(StreamingGateway);
  const Gateway: Type<SignallingGateway> = StreamingGateway;
  return [
    {
      provide: GatewaySetup,
      useFactory: (s: SignallingOptions) => {
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
    // Overridable as `SignallingGateway`; Nest finds the gateway by the class it builds.
    { provide: SignallingGateway, useClass: Gateway },
  ];
}

/**
 * The socket.io gateway. Needs `SessionService` from its imports (or a global module);
 * `ClusterService` is used when a global ClusterModule provides it.
 */
@Module({ exports: [SignallingOptions] })
export class SignallingModule {
  static forRoot(options: Partial<SignallingOptions> = {}): DynamicModule {
    return SignallingModule.register({ useFactory: () => SignallingOptions.from(options) });
  }

  static register(options: ModuleAsyncOptions<SignallingOptions>): DynamicModule {
    return {
      module: SignallingModule,
      imports: options.imports ?? [],
      providers: [{ provide: SignallingOptions, useFactory: options.useFactory, inject: options.inject ?? [] }, ...gatewayProviders()],
    };
  }
}
