import {
  CanActivate,
  Controller,
  Delete,
  ExecutionContext,
  Get,
  HttpCode,
  Injectable,
  NotFoundException,
  Param,
  Post,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ClusterOptions } from './cluster.options';
import { ClusterService } from './cluster.service';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** `Authorization: Bearer <adminToken>`; the endpoints do not exist without a token. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(private readonly options: ClusterOptions) {}

  canActivate(ctx: ExecutionContext): boolean {
    const token = this.options.adminToken;
    if (!token) throw new NotFoundException();
    const header = ctx.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const given = /^Bearer (.+)$/.exec(header)?.[1] ?? '';
    if (!timingSafeEqual(digest(given), digest(token))) throw new UnauthorizedException();
    return true;
  }
}

const ID = /^[\w.:-]{1,128}$/;

/**
 * Operator endpoints; each reaches every node of the cluster whichever node the load
 * balancer picked.
 *
 *   GET    /admin/viewers                    viewer sessions per source, cluster-wide
 *   POST   /admin/sources/:id/stop-video     stop the video of every viewer of a source
 *   DELETE /admin/sessions/:id               end one session on the node that owns it
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class AdminController {
  constructor(private readonly cluster: ClusterService) {}

  @Get('viewers')
  viewers() {
    return this.cluster.viewerCounts();
  }

  @Post('sources/:id/stop-video')
  @HttpCode(200)
  stopSource(@Param('id') id: string) {
    if (!ID.test(id)) throw new NotFoundException();
    return this.cluster.stopSourceVideo(id);
  }

  @Delete('sessions/:id')
  async endSession(@Param('id') id: string) {
    if (!ID.test(id)) throw new NotFoundException();
    const result = await this.cluster.endSession(id);
    if (!result.found) throw new NotFoundException({ message: 'no such session', complete: result.complete });
    return result;
  }
}
