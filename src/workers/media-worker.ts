import { Logger, LogLevel } from '@nestjs/common';
import { parentPort, workerData } from 'node:worker_threads';
import type { ToWorker } from './messages';
import { SessionHost } from './session-host';

/**
 * A media worker's entry point (a worker_threads Worker made by `MediaWorkerPool`): one
 * `SessionHost` on the worker's port. An uncaught error ends the worker (Node's default for a
 * worker); the pool closes its sessions with `media-worker-failed` and starts another.
 */
const port = parentPort;
if (!port) throw new Error('media-worker.ts runs only as a worker thread');
const levels = (workerData as { logLevels?: LogLevel[] } | undefined)?.logLevels;
if (levels) Logger.overrideLogger(levels);
const host = new SessionHost((m) => port.postMessage(m));
port.on('message', (m: ToWorker) => host.handle(m));
