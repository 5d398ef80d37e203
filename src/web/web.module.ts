import { Controller, Get, Module, NotFoundException, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The package root, from either src/web (ts-jest) or dist/web (built). */
const ROOT = join(__dirname, '..', '..');
/**
 * Served files: the demo page and the bundled client library. A Map, not an object
 * literal: `/__proto__` or `/constructor` must not find Object.prototype's members.
 */
const FILES = new Map<string, { dir: string; type: string }>([
  ['index.html', { dir: join(ROOT, 'public'), type: 'text/html; charset=utf-8' }],
  ['client.js', { dir: join(ROOT, 'dist', 'public'), type: 'text/javascript; charset=utf-8' }],
  ['client.js.map', { dir: join(ROOT, 'dist', 'public'), type: 'application/json' }],
]);

@Controller()
export class WebController {
  @Get()
  index(@Res() res: Response): void {
    this.send('index.html', res);
  }

  // Each name, not `:file`: a catch-all here would shadow routes of modules registered
  // after this one (`/metrics`, a host's own).
  @Get([...FILES.keys()])
  file(@Req() req: Request, @Res() res: Response): void {
    this.send(req.path.slice(1), res);
  }

  private send(name: string, res: Response): void {
    const entry = FILES.get(name);
    if (!entry) throw new NotFoundException();
    const path = join(entry.dir, name);
    if (!existsSync(path)) throw new NotFoundException();
    res.type(entry.type).setHeader('Cache-Control', 'no-cache').sendFile(path);
  }
}

/** The demo page at `/` and the browser client library at `/client.js`. */
@Module({ controllers: [WebController] })
export class WebModule {}
