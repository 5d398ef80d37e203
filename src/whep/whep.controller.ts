import { Controller, Delete, Logger, Next, Options, Patch, Post, Req, Res } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ErrorCode } from '../protocol';
import { SignallingOptions } from '../signalling/signalling.options';
import { WhepError, WhepService, statusOf } from './whep.service';
import { iceServerLinks } from './whep.sdp';

const MAX_BODY = 128 * 1024;
const SOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESOURCE_ID = /^[\w-]{16,64}$/;
const EXPOSED = 'Location, ETag, Link, Accept-Patch, Accept-Post, Retry-After';

/**
 * WHEP (draft-ietf-wish-whep) over plain HTTP:
 *
 *   POST    /whep[/<source>]        application/sdp offer -> 201, answer, Location, ETag, Link
 *   PATCH   /whep/<source>/<id>     application/trickle-ice-sdpfrag -> 204 (trickle), 200 + sdpfrag (ICE restart)
 *   DELETE  /whep/<source>/<id>     ends the session -> 200
 *   OPTIONS on both                 CORS preflight, Accept-Post / Accept-Patch
 *
 * Express objects are used directly: the bodies are SDP text, not JSON.
 */
@Controller('whep')
export class WhepController {
  private readonly log = new Logger('WHEP');

  constructor(
    private readonly whep: WhepService,
    private readonly signalling: SignallingOptions,
  ) {}

  @Options()
  optionsDefault(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): void {
    this.preflight(req, res, next, 'OPTIONS, POST');
  }

  @Options(':source')
  optionsSource(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): void {
    this.preflight(req, res, next, 'OPTIONS, POST');
  }

  @Options(':source/:id')
  optionsResource(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): void {
    this.preflight(req, res, next, 'OPTIONS, PATCH, DELETE');
  }

  @Post()
  postDefault(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): Promise<void> {
    return this.post(undefined, req, res, next);
  }

  @Post(':source')
  postSource(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): Promise<void> {
    return this.post(req.params.source as string, req, res, next);
  }

  @Patch(':source/:id')
  async patch(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): Promise<void> {
    await this.handle(req, res, next, async () => {
      const r = this.resource(req);
      if (!isType(req, 'application/trickle-ice-sdpfrag')) {
        throw new WhepError(415, ErrorCode.VALIDATION_FAILED, 'PATCH takes application/trickle-ice-sdpfrag');
      }
      const restarted = await this.whep.patch(r.id, header(req, 'if-match'), await readBody(req));
      if (!restarted) {
        res.status(204).end();
        return;
      }
      res.status(200).setHeader('Content-Type', 'application/trickle-ice-sdpfrag').setHeader('ETag', restarted.etag).send(restarted.fragment);
    });
  }

  @Delete(':source/:id')
  async remove(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): Promise<void> {
    await this.handle(req, res, next, async () => {
      this.whep.delete(this.resource(req).id);
      res.status(200).end();
    });
  }

  // --- internals ---------------------------------------------------------------------

  private async post(source: string | undefined, req: Request, res: Response, next: NextFunction): Promise<void> {
    await this.handle(req, res, next, async () => {
      if (source !== undefined && !SOURCE_ID.test(source)) throw new WhepError(404, ErrorCode.SOURCE_NOT_FOUND, 'unknown source');
      if (!isType(req, 'application/sdp')) throw new WhepError(415, ErrorCode.VALIDATION_FAILED, 'POST takes application/sdp');
      await this.whep.authorize({
        headers: req.headers,
        auth: bearer(req) !== undefined ? { token: bearer(req) } : {},
        query: { ...(req.query as Record<string, unknown>) },
        address: req.socket.remoteAddress ?? '',
        secure: req.secure,
        url: req.originalUrl,
      });
      const sdp = await readBody(req);
      const { resource, answer } = await this.whep.offer(source, sdp);
      if (res.destroyed || req.socket.destroyed) {
        // The client went away while we negotiated: nobody holds the resource.
        this.whep.delete(resource.id);
        return;
      }
      const base = req.originalUrl.split('?')[0].replace(/\/+$/, '');
      const location = `${source === undefined ? `${base}/${encodeURIComponent(resource.source)}` : base}/${resource.id}`;
      const links = iceServerLinks(this.signalling.clientIceServers);
      res
        .status(201)
        .setHeader('Content-Type', 'application/sdp')
        .setHeader('Location', location)
        .setHeader('ETag', resource.etag)
        .setHeader('Accept-Patch', 'application/trickle-ice-sdpfrag');
      if (links.length) res.setHeader('Link', links);
      res.end(answer);
    });
  }

  private resource(req: Request) {
    const id = String(req.params.id ?? '');
    const r = RESOURCE_ID.test(id) ? this.whep.get(id) : undefined;
    if (!r || r.source !== req.params.source) throw new WhepError(404, ErrorCode.SESSION_NOT_FOUND, 'no such WHEP session');
    return r;
  }

  private preflight(req: Request, res: Response, next: NextFunction, allow: string): void {
    if (!this.whep.options.enabled) return next();
    this.cors(req, res);
    res.setHeader('Allow', allow);
    res.setHeader('Access-Control-Allow-Methods', allow);
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match');
    res.setHeader('Access-Control-Max-Age', '86400');
    if (allow.includes('POST')) res.setHeader('Accept-Post', 'application/sdp');
    else res.setHeader('Accept-Patch', 'application/trickle-ice-sdpfrag');
    res.status(204).end();
  }

  /** CORS for the actual requests: the allowed origin, and the headers a player must read. */
  private cors(req: Request, res: Response): void {
    const origin = header(req, 'origin');
    const allowed = this.whep.options.allowOrigin;
    if (origin && (allowed === true || allowed.includes(origin))) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    }
  }

  /** Runs a request; errors become `{ code, message }` with their status. WHEP off: the next route. */
  private async handle(req: Request, res: Response, next: NextFunction, fn: () => Promise<void>): Promise<void> {
    if (!this.whep.options.enabled) return next();
    try {
      this.cors(req, res);
      await fn();
    } catch (err) {
      const { status, code, message } = statusOf(err);
      if (status === 500) this.log.error(`${req.method} ${req.path}: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) return;
      if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      if (status === 503) res.setHeader('Retry-After', '5');
      // Never the request's body or token: only our own code and message.
      res.status(status).json({ code, message });
    }
  }
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function bearer(req: Request): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(header(req, 'authorization') ?? '')?.[1]?.trim();
}

function isType(req: Request, type: string): boolean {
  return (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase() === type;
}

/** The request body as text (a host's body parser may have read it already). */
async function readBody(req: Request): Promise<string> {
  const parsed: unknown = req.body;
  if (typeof parsed === 'string') return parsed;
  if (Buffer.isBuffer(parsed)) return parsed.toString('utf8');
  if (req.readableEnded) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new WhepError(413, ErrorCode.VALIDATION_FAILED, 'the body is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
