import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleAsyncOptions } from '../common/async-options';
import { MediaModule } from '../media/media.module';
import { SessionOptions } from './session.options';
import { SessionService } from './session.service';

/** Owns the werift sessions. `SessionOptions` and `MediaSource` can each be overridden. */
@Module({ providers: [SessionService], exports: [SessionService, SessionOptions] })
export class SessionModule {
  /** Standalone (no gateway): the sessions over the default MediaModule (the test pattern). */
  static forRoot(options: Partial<SessionOptions> = {}): DynamicModule {
    return {
      module: SessionModule,
      // Global so an embedding app's own transport can inject SessionService.
      global: true,
      imports: [MediaModule],
      providers: [{ provide: SessionOptions, useValue: SessionOptions.from(options) }],
    };
  }

  /**
   * Options from a factory; `imports` must hold the media module the sessions read from
   * (exported again, so the importer sees the same sources) and the factory's dependencies.
   */
  static register(options: ModuleAsyncOptions<SessionOptions> & { media: DynamicModule }): DynamicModule {
    return {
      module: SessionModule,
      imports: [options.media, ...(options.imports ?? [])],
      providers: [{ provide: SessionOptions, useFactory: options.useFactory, inject: options.inject ?? [] }],
      exports: [options.media],
    };
  }
}
