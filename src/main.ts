import 'reflect-metadata';
import { Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { RedisIoAdapter } from './cluster/redis-io.adapter';
import { EnvError, appOptionsFromEnv, loadEnv } from './config/env';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];

async function bootstrap(): Promise<void> {
  let env;
  try {
    env = loadEnv();
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  const app = await NestFactory.create(AppModule.forRoot(appOptionsFromEnv(env)), {
    logger: LEVELS.slice(0, LEVELS.indexOf(env.LOG_LEVEL) + 1),
  });
  // Several nodes: socket.io over Redis (the node starts and serves even while Redis is down).
  if (env.REDIS_URL) app.useWebSocketAdapter(new RedisIoAdapter(app, { url: env.REDIS_URL }).connect());
  // SIGTERM/SIGINT close every session (and its sockets) before the process exits.
  app.enableShutdownHooks();
  await app.listen(env.PORT, env.HOST);
  const url = await app.getUrl();
  new Logger('main').log(`listening on ${url.replace('[::1]', 'localhost').replace('0.0.0.0', 'localhost')}`);
}

void bootstrap();
