import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleAsyncOptions } from '../common/async-options';
import { MetricsController } from './metrics.controller';
import { MetricsOptions } from './metrics.options';
import { MetricsService } from './metrics.service';

/** Prometheus metrics at `/metrics`. Imports must provide `SessionService` and the media sources. */
@Module({ controllers: [MetricsController], providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {
  static register(options: ModuleAsyncOptions<MetricsOptions>): DynamicModule {
    return {
      module: MetricsModule,
      imports: options.imports ?? [],
      providers: [{ provide: MetricsOptions, useFactory: options.useFactory, inject: options.inject ?? [] }],
    };
  }
}
