import 'reflect-metadata';
import { Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { tuneHeapGrowing } from './common/gc-tuning';
import { RedisIoAdapter } from './cluster/redis-io.adapter';
import { LeanIoAdapter } from './signalling/lean-io.adapter';
import { EnvError, appOptionsFromEnv, corsOrigin, loadEnv } from './config/env';
import { loadNativeSrtp, nativeSrtpLoadError, usesNativeSrtp } from './media/fanout/srtp';

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
  // Before the sessions exist: fewer full GCs over a large heap of sessions (gc-tuning.ts).
  if (env.HEAP_GROWING_PERCENT > 0) tuneHeapGrowing(env.HEAP_GROWING_PERCENT);
  const app = await NestFactory.create(AppModule.forRoot(appOptionsFromEnv(env)), {
    logger: LEVELS.slice(0, LEVELS.indexOf(env.LOG_LEVEL) + 1),
  });
  // Several nodes: socket.io over Redis (the node starts and serves even while Redis is down).
  // Either way the gateway's handlers are bound without rxjs (lean-io.adapter.ts).
  app.useWebSocketAdapter(env.REDIS_URL ? new RedisIoAdapter(app, { url: env.REDIS_URL }).connect() : new LeanIoAdapter(app));
  app.enableCors({ origin: corsOrigin(env) });
  // SIGTERM/SIGINT: refuse new sessions, tell every client (`session:state closed`,
  // reason `server-shutdown`), close everything and exit 0; or exit 1 after the timeout.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        new Logger('main').error(`shutdown took longer than ${env.SHUTDOWN_TIMEOUT_MS} ms; exiting`);
        process.exit(1);
      }, env.SHUTDOWN_TIMEOUT_MS).unref();
    });
  }
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await app.listen(env.PORT, env.HOST);
  const url = await app.getUrl();
  new Logger('main').log(`listening on ${url.replace('[::1]', 'localhost').replace('0.0.0.0', 'localhost')}`);
  // npm hides install-script output: say here which SRTP the send path uses, and why.
  new Logger('main').log(
    usesNativeSrtp()
      ? `SRTP: native (webrtc-oneway-srtp, ${loadNativeSrtp()!.openssl})`
      : `SRTP: JavaScript (${env.SRTP_NATIVE === '0' ? 'SRTP_NATIVE=0' : `webrtc-oneway-srtp not loaded: ${nativeSrtpLoadError()}`})`,
  );
}

void bootstrap();
