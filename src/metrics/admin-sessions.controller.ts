import { Controller, Get, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from '../cluster/admin.controller';
import { SessionService } from '../session/session.service';
import { SessionStatsEntry, sessionStats } from './session-stats';

/**
 * `GET /admin/sessions` (admin token): every open session of this node with its RTP
 * counters (werift's, read now), picture-loss outcomes, state and peer address.
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class AdminSessionsController {
  constructor(private readonly sessions: SessionService) {}

  @Get('sessions')
  list(): { count: number; sessions: SessionStatsEntry[] } {
    const open = this.sessions.summaries();
    return { count: open.length, sessions: open.map(sessionStats) };
  }
}
