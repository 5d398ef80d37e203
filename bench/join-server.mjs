#!/usr/bin/env node
/**
 * The server side of bench/join.mjs: one built copy of this service (`--dist`, default
 * dist/), its own process so that its CPU is read from /proc alone. Its one source is
 * kind `rtp` on the given UDP port, fed by join.mjs's ffmpeg. Loopback only. Driven over
 * IPC: sends { type: 'ready', port } once listening, answers { cmd: 'sessions' } with
 * { type: 'sessions', count }, and closes on { cmd: 'exit' }. Not meant to be run by hand.
 *
 *   fork('bench/join-server.mjs', [distDir, rtpPort])
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { LOOPBACK_SESSION, useMainsAdapter } from './main-setup.mjs';

if (!process.send) {
  console.error('join-server: started by bench/join.mjs, not by hand');
  process.exit(2);
}
const [distArg, portArg] = process.argv.slice(2);
const DIST = resolve(distArg);
// Resolve Nest (and werift) from the copy being measured, not from this checkout.
const require = createRequire(join(DIST, '..', 'package.json'));
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { AppModule } = require(join(DIST, 'app.module.js'));
const { SessionService } = require(join(DIST, 'session/session.service.js'));
// As dist/main.js does before it starts (HEAP_GROWING_PERCENT, src/common/gc-tuning.ts); a
// build without it (--before) runs as it would.
const gcTuning = join(DIST, 'common/gc-tuning.js');
if (existsSync(gcTuning)) require(gcTuning).tuneHeapGrowing();

process.on('disconnect', () => process.exit(0));

// JOIN_PROFILE=FILE (join.mjs passes its environment on): a CPU profile of this server's main
// thread from ready to exit, written to FILE (.cpuprofile) and summarised on stderr.
const profiling = process.env.JOIN_PROFILE
  ? await (await import('./fanout-profile.mjs')).startProfile()
  : undefined;

const app = await NestFactory.create(
  AppModule.forRoot({
    session: {
      ...LOOPBACK_SESSION,
      maxSessionsPerClient: 10_000,
      // JOIN_MEDIA_WORKERS=N: the sessions in N media worker threads (join.mjs passes its environment on).
      ...(process.env.JOIN_MEDIA_WORKERS ? { mediaWorkers: Number(process.env.JOIN_MEDIA_WORKERS) } : {}),
    },
    streaming: {
      sources: [{ id: 'feed', kind: 'rtp', codec: 'VP8', port: Number(portArg), payloadType: 96 }],
      defaultSource: 'feed',
      // Every bench viewer comes from 127.0.0.1: the per-address limits (50 sockets, 16
      // sessions in progress) are for the open internet, not for one load client.
      limits: { maxSocketsPerAddress: 10_000, maxSessionsInProgressPerAddress: 10_000 },
    },
  }),
  { logger: ['error', 'warn'] },
);
useMainsAdapter(app, DIST);
await app.listen(0, '127.0.0.1');
const sessions = app.get(SessionService);
process.on('message', async (msg) => {
  if (msg.cmd === 'sessions') process.send({ type: 'sessions', count: sessions.count });
  if (msg.cmd === 'exit') {
    if (profiling) (await import('./fanout-profile.mjs')).printSummary(await profiling.stop(process.env.JOIN_PROFILE), 40, console.error);
    await app.close().catch((e) => console.error('join-server: close:', e.message));
    process.exit(0);
  }
});
process.send({ type: 'ready', port: app.getHttpServer().address().port });
