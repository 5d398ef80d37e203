import { Controller, Get, Injectable, Logger, OnModuleDestroy, ServiceUnavailableException } from '@nestjs/common';
import { SessionService } from './session/session.service';

/**
 * Liveness, readiness and the first step of a graceful shutdown. When the application
 * closes (SIGTERM with `enableShutdownHooks()`, or the host's own `app.close()`), this runs
 * before the media sources and the gateway are torn down: new sessions are refused, and
 * every session is closed with the reason `server-shutdown`, which its client is told
 * (`session:state closed`) while the sockets are still open.
 */
@Injectable()
export class StreamingLifecycle implements OnModuleDestroy {
  private readonly log = new Logger('Streaming');

  constructor(private readonly sessions: SessionService) {}

  /** Accepting sessions (false while draining and after, and while no media worker runs). */
  get ready(): boolean {
    const workers = this.sessions.mediaWorkers();
    return this.sessions.isAccepting && (workers.length === 0 || workers.some((w) => w.ready));
  }

  /** Refuses new sessions (CAPACITY_EXCEEDED) and closes the open ones. Idempotent. */
  drain(reason = 'server-shutdown'): number {
    const n = this.sessions.drain(reason);
    if (n) this.log.log(`draining: closed ${n} session(s) (${reason})`);
    return n;
  }

  onModuleDestroy(): void {
    this.drain();
  }
}

export interface ReadinessBody {
  status: 'ready' | 'draining' | 'no-media-worker';
  sessions: number;
}

/** `GET /health/live`: the process answers. `GET /health/ready`: it accepts sessions (503 while draining). */
@Controller('health')
export class StreamingHealthController {
  constructor(
    private readonly lifecycle: StreamingLifecycle,
    private readonly sessions: SessionService,
  ) {}

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  ready(): ReadinessBody {
    // With media workers, not ready while none runs (each one's state: the metrics).
    if (!this.lifecycle.ready) {
      const status = this.sessions.isAccepting ? 'no-media-worker' : 'draining';
      throw new ServiceUnavailableException({ status, sessions: this.sessions.count } satisfies ReadinessBody);
    }
    return { status: 'ready', sessions: this.sessions.count };
  }
}
