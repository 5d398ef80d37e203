import { Controller, Get, Next, Req, Res, UnauthorizedException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { MetricsService } from './metrics.service';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `GET /metrics`: Prometheus text format; Bearer token when one is set. When metrics are off
 * the request falls through to the application's other routes (a host's own `/metrics`), so 404
 * unless it has one.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  async scrape(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): Promise<void> {
    const { enabled, token } = this.metrics.options;
    if (!enabled) return next();
    if (token) {
      const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!timingSafeEqual(digest(given), digest(token))) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        throw new UnauthorizedException();
      }
    }
    const { contentType, body } = await this.metrics.scrape();
    res.status(200).setHeader('Content-Type', contentType).setHeader('Cache-Control', 'no-store').end(body);
  }
}
