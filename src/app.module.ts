import { DynamicModule, Module } from '@nestjs/common';
import { SessionModule } from './session/session.module';
import type { SessionOptions } from './session/session.options';
import { SignallingModule } from './signalling/signalling.module';
import { WebModule } from './web/web.module';

export interface AppOptions {
  session?: Partial<SessionOptions>;
}

/** The standalone service: signalling, sessions, the default media source and the demo page. */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [SessionModule.forRoot(options.session), SignallingModule, WebModule],
    };
  }
}
