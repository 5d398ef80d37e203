import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleAsyncOptions } from '../common/async-options';
import { WhepController } from './whep.controller';
import { WhepOptions } from './whep.options';
import { WhepService } from './whep.service';

/**
 * WHEP endpoints at `/whep` on ordinary sessions. Imports must provide `SessionService` and
 * `SignallingOptions` (the auth hook and CORS are shared with the gateway).
 */
@Module({ controllers: [WhepController], providers: [WhepService], exports: [WhepService] })
export class WhepModule {
  static register(options: ModuleAsyncOptions<WhepOptions>): DynamicModule {
    return {
      module: WhepModule,
      imports: options.imports ?? [],
      providers: [{ provide: WhepOptions, useFactory: options.useFactory, inject: options.inject ?? [] }],
    };
  }
}
