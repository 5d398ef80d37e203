#!/usr/bin/env node
/**
 * The server of bench/ttff.mjs, in a process of its own as it runs when deployed: the bench
 * process also drives Chromium (playwright's protocol traffic and its request routing), and
 * sharing an event loop with that delayed the server's replies during the page load.
 *
 *   (forked by bench/ttff.mjs) node bench/ttff-server.mjs ROOT [CLIP] [--timeline]
 *
 * The real AppModule from ROOT/dist with the test pattern, or with CLIP a looped `file`
 * source; ICE on 127.0.0.1 only. Over IPC: `ready` with the port; `sessions` -> the number
 * of sessions and whether one is still connecting; and with --timeline, per session once it
 * closes, its `timeline` (ms after session:start arrived: answer or offer sent, signalling
 * states, ICE and DTLS connected, streaming; requestedAtEpoch to put the page's times on the
 * same scale). Without it the sessions are not watched at all.
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { LOOPBACK_SESSION, useMainsAdapter } from './main-setup.mjs';

const [rootArg, CLIP] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const ROOT = resolve(rootArg ?? '.');
const TIMELINE = process.argv.includes('--timeline');
const require = createRequire(join(ROOT, 'package.json'));
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { AppModule } = require(join(ROOT, 'dist/app.module.js'));
const { SessionService } = require(join(ROOT, 'dist/session/session.service.js'));
// As dist/main.js does before it starts (HEAP_GROWING_PERCENT, src/common/gc-tuning.ts).
require(join(ROOT, 'dist/common/gc-tuning.js')).tuneHeapGrowing();

process.on('disconnect', () => process.exit(0));

const app = await NestFactory.create(
  AppModule.forRoot({
    session: LOOPBACK_SESSION,
    ...(CLIP ? { streaming: { sources: [{ id: 'gop', kind: 'file', path: CLIP, loop: true }], defaultSource: 'gop' } } : {}),
  }),
  { logger: ['error', 'warn'] },
);
useMainsAdapter(app, join(ROOT, 'dist'));
await app.listen(0, '127.0.0.1');
const sessions = app.get(SessionService);

// Per session: when the server answered, offered, got the answer, and connected (ms after the request).
if (TIMELINE) sessions.events.on('started', (_owner, { sessionId, requestedAt }) => {
  const s = sessions.list().find((x) => x.id === sessionId);
  if (!s) return;
  const t = { 'answer/offer sent': performance.now() - requestedAt, requestedAtEpoch: performance.timeOrigin + requestedAt };
  const mark = (k) => (t[k] ??= performance.now() - requestedAt);
  const pc = s.peerConnection;
  pc.iceConnectionStateChange.subscribe((st) => st === 'connected' && mark('ice connected'));
  pc.connectionStateChange.subscribe((st) => st === 'connected' && mark('dtls connected'));
  pc.signalingStateChange.subscribe((st) => mark(`signalling ${st}`));
  const onOffer = (_o, e) => e.sessionId === sessionId && mark('server offer sent');
  const onState = (_o, e) => e.sessionId === sessionId && e.state === 'streaming' && mark('streaming');
  const onClosed = (e) => {
    if (e.sessionId !== sessionId) return;
    sessions.events.off('offer', onOffer).off('state', onState).off('closed', onClosed);
    process.send({ type: 'timeline', timeline: t });
  };
  sessions.events.on('offer', onOffer).on('state', onState).on('closed', onClosed);
});

process.on('message', async (msg) => {
  if (msg.cmd === 'sessions') {
    process.send({ type: 'sessions', count: sessions.count, connecting: sessions.list().some((s) => s.state === 'connecting') });
  } else if (msg.cmd === 'exit') {
    await app.close().catch((e) => console.error('ttff-server: closing the app:', e.message));
    process.exit(0);
  }
});
process.send({ type: 'ready', port: app.getHttpServer().address().port });
