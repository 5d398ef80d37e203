import { DynamicModule, Module } from '@nestjs/common';
import { ClusterModule } from './cluster/cluster.module';
import type { ClusterOptions } from './cluster/cluster.options';
import type { SessionOptions } from './session/session.options';
import { StreamingModule } from './streaming.module';
import type { StreamingModuleOptions } from './streaming.options';
import { WebModule } from './web/web.module';

export interface AppOptions {
  session?: Partial<SessionOptions>;
  /** Everything else StreamingModule takes (gateway, sources, auth hook...); `session` wins. */
  streaming?: StreamingModuleOptions;
  /** Node id, admin token, drain notice (see ClusterOptions). */
  cluster?: Partial<ClusterOptions>;
}

/**
 * The standalone service: one user of StreamingModule (signalling, sessions, sources,
 * health, graceful shutdown), plus the cluster endpoints and the demo page.
 */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [StreamingModule.forRoot({ ...options.streaming, ...options.session, isGlobal: true }), ClusterModule.forRoot(options.cluster), WebModule],
    };
  }
}
