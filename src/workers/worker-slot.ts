import type { Worker } from 'node:worker_threads';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode } from '../protocol';
import type { SessionCall, ToWorker } from './messages';
import type { RemoteSession, WorkerLink } from './remote-session';

/** What `/health/ready` and the metrics read of each worker. */
export interface MediaWorkerStatus {
  index: number;
  ready: boolean;
  sessions: number;
  /** Times this worker slot was started again after its worker died. */
  restarts: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  session?: RemoteSession;
}

/** One worker slot: the current Worker (replaced when it dies), its sessions and its calls in flight. */
export class WorkerSlot implements WorkerLink {
  worker?: Worker;
  ready = false;
  restarts = 0;
  readonly sessions = new Map<string, RemoteSession>();
  readonly pending = new Map<number, Pending>();
  readonly filterCell = new Int32Array(new SharedArrayBuffer(8));
  /** Sources whose feed this worker takes (sent again to a restarted worker). */
  readonly sources = new Set<string>();
  /** Feeds of each source running here (for on-demand sources), video and audio. */
  readonly demand = new Map<string, { video: number; audio: number }>();
  private nextCall = 1;

  constructor(
    readonly index: number,
    readonly portRange: [number, number] | undefined,
  ) {}

  call(sessionId: string, call: SessionCall): Promise<unknown> {
    const callId = this.nextCall++;
    return new Promise((resolve, reject) => {
      if (!this.worker) return reject(new StreamingError(ErrorCode.INTERNAL, 'the media worker is not running'));
      this.pending.set(callId, { resolve, reject, session: this.sessions.get(sessionId) });
      this.send({ t: 'call', callId, sessionId, call });
    });
  }

  post(m: ToWorker): void {
    this.send(m);
  }

  send(m: ToWorker): void {
    this.worker?.postMessage(m);
  }
}
