import { DynamicModule, Module } from '@nestjs/common';
import { MediaSource } from './media-source';
import { MEDIA_MODULE_OPTIONS, MediaModuleOptions, MediaSourceRegistry } from './source-registry';
import { TestPatternSource } from './test-pattern.source';

/** Holds the options given to `MediaModule.forRoot` (global, so the registry sees them). */
@Module({})
export class MediaOptionsModule {}

/**
 * Provides the `MediaSource` token (the default source; the built-in looping test pattern,
 * id `test`; override the provider to stream something else) and the `MediaSourceRegistry`
 * (every source by id). Named sources come from `MediaModule.forRoot({ sources })`.
 */
@Module({
  providers: [{ provide: MediaSource, useFactory: () => new TestPatternSource() }, MediaSourceRegistry],
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
  static forRootAsync(options: {
    imports?: DynamicModule['imports'];
    inject?: any[];
    useFactory: (...args: any[]) => MediaModuleOptions | Promise<MediaModuleOptions>;
  }): DynamicModule {
    return {
      module: MediaOptionsModule,
      global: true,
      imports: options.imports ?? [],
      providers: [{ provide: MEDIA_MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }],
      exports: [MEDIA_MODULE_OPTIONS],
    };
  }
}
