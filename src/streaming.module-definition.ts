import { ConfigurableModuleBuilder } from '@nestjs/common';
import { composeStreamingModule } from './streaming.graph';
import { STREAMING_MODULE_OPTIONS, StreamingModuleExtras, StreamingModuleOptions } from './streaming.options';

export { STREAMING_MODULE_OPTIONS };

export const {
  ConfigurableModuleClass: StreamingConfigurableModule,
  OPTIONS_TYPE: STREAMING_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: STREAMING_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<StreamingModuleOptions>({ optionsInjectionToken: STREAMING_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  // The extras shape the module (which modules, which controllers), so they are static.
  .setExtras<StreamingModuleExtras>({ isGlobal: false, health: true }, composeStreamingModule)
  .build();
