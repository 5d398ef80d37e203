import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { StreamingModuleExtras, StreamingModuleOptions } from './streaming.options';

export const {
  ConfigurableModuleClass: StreamingConfigurableModule,
  MODULE_OPTIONS_TOKEN: STREAMING_MODULE_OPTIONS,
  OPTIONS_TYPE: STREAMING_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: STREAMING_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<StreamingModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras<StreamingModuleExtras>({ isGlobal: false, health: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
