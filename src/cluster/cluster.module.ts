import { DynamicModule, Module } from '@nestjs/common';
import { AdminSessionsController } from '../metrics/admin-sessions.controller';
import { AdminController, AdminTokenGuard } from './admin.controller';
import { ClusterOptions } from './cluster.options';
import { ClusterService } from './cluster.service';

/**
 * Cluster-wide viewer counts and operator actions (`ClusterService`, and the `/admin`
 * endpoints when an admin token is set). Works on a single node too; across nodes once the
 * socket.io server uses the Redis adapter (`RedisIoAdapter`).
 */
@Module({})
export class ClusterModule {
  static forRoot(options: Partial<ClusterOptions> = {}): DynamicModule {
    return {
      module: ClusterModule,
      global: true,
      controllers: [AdminController, AdminSessionsController],
      providers: [{ provide: ClusterOptions, useValue: ClusterOptions.from(options) }, ClusterService, AdminTokenGuard],
      exports: [ClusterService, ClusterOptions],
    };
  }
}
