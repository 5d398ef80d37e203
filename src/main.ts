import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '0.0.0.0';
  const app = await NestFactory.create(AppModule.forRoot(), { bufferLogs: false });
  app.enableShutdownHooks();
  await app.listen(port, host);
  new Logger('main').log(`listening on http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`);
}

void bootstrap();
