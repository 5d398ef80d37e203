export * from './cluster.module';
export * from './cluster.options';
export * from './cluster.service';
export * from './redis-io.adapter';
