import type { DynamicModule, InjectionToken, OptionalFactoryDependency } from '@nestjs/common';

/**
 * How each of the streaming modules takes options computed by a factory: the `imports`
 * make the injected providers visible. `StreamingModule` passes its own options module
 * and a factory that maps its options to the module's.
 */
export interface ModuleAsyncOptions<T> {
  imports?: DynamicModule['imports'];
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...args: any[]) => T | Promise<T>;
}
