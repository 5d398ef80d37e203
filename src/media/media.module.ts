import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleAsyncOptions } from '../common/async-options';
import { MediaSource } from './media-source';
import { MEDIA_MODULE_OPTIONS, MediaModuleOptions, MediaSourceRegistry } from './source-registry';
import { TestPatternSource } from './test-pattern.source';

/** Holds the options given to `MediaModule.forRoot` (global, so the registry sees them). */
@Module({})
export class MediaOptionsModule {}

/**
 * Provides the `MediaSource` token (the default source: `options.source`, else the built-in
 * looping test pattern, id `test`; override the provider to stream something else) and the
 * `MediaSourceRegistry` (every source by id). Named sources come from the options.
 */
@Module({
  providers: [
    {
      provide: MediaSource,
      useFactory: (o?: MediaModuleOptions) => o?.source ?? new TestPatternSource(),
      inject: [{ token: MEDIA_MODULE_OPTIONS, optional: true }],
    },
    MediaSourceRegistry,
  ],
  exports: [MediaSource, MediaSourceRegistry],
})
export class MediaModule {
  /**
   * Named sources: configurations (`{ id, kind: 'test' | 'rtp' | 'rtsp' | 'file', ... }`,
   * validated; one error lists every problem) and/or `MediaSource` instances built in code.
   * Import it once, beside the modules that use `MediaModule` (it is global).
   */
  static forRoot(options: MediaModuleOptions = {}): DynamicModule {
    return {
      module: MediaOptionsModule,
      global: true,
      providers: [{ provide: MEDIA_MODULE_OPTIONS, useValue: options }],
      exports: [MEDIA_MODULE_OPTIONS],
    };
  }

  /** As `forRoot`, with options computed by a factory (e.g. from another module's options). */
  static forRootAsync(options: ModuleAsyncOptions<MediaModuleOptions>): DynamicModule {
    return {
      module: MediaOptionsModule,
      global: true,
      imports: options.imports ?? [],
      providers: [{ provide: MEDIA_MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }],
      exports: [MEDIA_MODULE_OPTIONS],
    };
  }

  /**
   * A MediaModule of its own (not global) with options from a factory: what each
   * `StreamingModule` imports, so two of them in one application keep their own sources.
   */
  static register(options: ModuleAsyncOptions<MediaModuleOptions>): DynamicModule {
    return {
      module: MediaModule,
      imports: options.imports ?? [],
      providers: [{ provide: MEDIA_MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }],
    };
  }
}
