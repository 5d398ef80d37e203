import { DynamicModule, Module } from '@nestjs/common';
import { ClusterModule } from './cluster/cluster.module';
import type { ClusterOptions } from './cluster/cluster.options';
import { SessionModule } from './session/session.module';
import type { SessionOptions } from './session/session.options';
import { SignallingModule } from './signalling/signalling.module';
import { WebModule } from './web/web.module';

export interface AppOptions {
  session?: Partial<SessionOptions>;
  /** Node id, admin token, drain notice (see ClusterOptions). */
  cluster?: Partial<ClusterOptions>;
}

/** The standalone service: signalling, sessions, the default media source and the demo page. */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [SessionModule.forRoot(options.session), ClusterModule.forRoot(options.cluster), SignallingModule, WebModule],
    };
  }
}
