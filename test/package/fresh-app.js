/*
 * A fresh Nest application that uses the packed webrtc-oneway, as a user would: only the
 * package's main export, default options (no STUN server given) but for the addresses:
 * werift gathers no candidate on a loopback interface, and the namespace has only that. Copied into a temporary directory by package.e2e-spec.ts and run there
 * inside a loopback-only network namespace. Writes `ready.json` ({ pid, port }) once
 * listening; SIGTERM closes it.
 */
'use strict';
require('reflect-metadata');
const { writeFileSync } = require('node:fs');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { StreamingModule } = require('webrtc-oneway');

class AppModule {}
Module({ imports: [StreamingModule.forRoot({ announcedAddresses: ['127.0.0.1'], bindAddress: '127.0.0.1' })] })(AppModule);

(async () => {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  writeFileSync('ready.json', JSON.stringify({ pid: process.pid, port }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
