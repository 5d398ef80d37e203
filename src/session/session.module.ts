import { DynamicModule, Module } from '@nestjs/common';
import { MediaModule } from '../media/media.module';
import { SessionOptions } from './session.options';
import { SessionService } from './session.service';

/** Owns the werift sessions. `SessionOptions` and `MediaSource` can each be overridden. */
@Module({})
export class SessionModule {
  static forRoot(options: Partial<SessionOptions> = {}): DynamicModule {
    return {
      module: SessionModule,
      // Global so the gateway (and an embedding app) can inject SessionService.
      global: true,
      imports: [MediaModule],
      providers: [{ provide: SessionOptions, useValue: SessionOptions.from(options) }, SessionService],
      exports: [SessionService, SessionOptions],
    };
  }
}
