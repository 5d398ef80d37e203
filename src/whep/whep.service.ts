import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode, IceCandidateInit, SessionCandidateEvent, SessionStateEvent } from '../protocol';
import { SessionService } from '../session/session.service';
import { SignallingOptions, StreamingHandshake } from '../signalling/signalling.options';
import { WhepOptions } from './whep.options';
import { isDescriptionWithMedia } from '../sdp/sdp';
import { iceUfragOf, parseSdpFragment, restartFragment, restartOffer, withCandidates } from './whep.sdp';

/** One WHEP session resource (`/whep/<source>/<id>`). */
export interface WhepResource {
  /** The resource's id in its URL: random, the client's capability to PATCH and DELETE it. */
  id: string;
  sessionId: string;
  ownerId: string;
  source: string;
  etag: string;
}

/** A WHEP request refused with an HTTP status (the message is safe to show). */
export class WhepError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WhepError';
  }
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.SOURCE_NOT_FOUND]: 404,
  [ErrorCode.SESSION_NOT_FOUND]: 404,
  [ErrorCode.CAPACITY_EXCEEDED]: 503,
  // Not 406: published players take 406 as "retry without audio/video".
  [ErrorCode.CODEC_NOT_SUPPORTED]: 422,
  [ErrorCode.NEGOTIATION_FAILED]: 422,
  [ErrorCode.INVALID_STATE]: 409,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.VALIDATION_FAILED]: 400,
};

/** The HTTP status of a service error (500 for anything unexpected). */
export function statusOf(err: unknown): { status: number; code: ErrorCode; message: string } {
  if (err instanceof WhepError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof StreamingError) return { status: STATUS[err.code] ?? 500, code: err.code, message: err.message };
  return { status: 500, code: ErrorCode.INTERNAL, message: 'internal error' };
}

const OWNER_PREFIX = 'whep:';

/**
 * WHEP (draft-ietf-wish-whep) on top of the session service: a WHEP viewer is an ordinary
 * session whose owner is `whep:<uuid>`, so caps, viewer counts, the cluster and admin
 * endpoints, `close()` and the fan-out treat it like any other. What WHEP lacks is
 * signalling from server to client, hence: the answer carries every server candidate, and
 * the session never renegotiates (see `Session.renegotiation`).
 */
@Injectable()
export class WhepService implements OnModuleDestroy {
  private readonly log = new Logger('WHEP');
  private readonly byId = new Map<string, WhepResource>();
  private readonly byOwner = new Map<string, WhepResource>();
  private readonly onState = (ownerId: string, e: SessionStateEvent) => {
    if (e.state !== 'closed' || !ownerId.startsWith(OWNER_PREFIX)) return;
    const r = this.byOwner.get(ownerId);
    if (r && r.sessionId === e.sessionId) this.forget(r);
  };

  constructor(
    private readonly sessions: SessionService,
    private readonly signalling: SignallingOptions,
    readonly options: WhepOptions,
  ) {
    sessions.events.on('state', this.onState);
  }

  onModuleDestroy(): void {
    this.sessions.events.off('state', this.onState);
  }

  /** How many WHEP resources are open. */
  get count(): number {
    return this.byId.size;
  }

  get(id: string): WhepResource | undefined {
    return this.byId.get(id);
  }

  /** Runs the module's `authorize` hook on a WHEP request (the Bearer token as `auth.token`). */
  async authorize(handshake: StreamingHandshake): Promise<void> {
    const hook = this.signalling.authorize;
    if (!hook) return;
    let result;
    try {
      result = await hook(handshake);
    } catch (err) {
      this.log.error(`authorize hook failed: ${(err as Error)?.stack ?? String(err)}`);
      result = { allow: false as const, reason: 'unauthorized' };
    }
    if (result !== true) throw new WhepError(401, ErrorCode.UNAUTHORIZED, result?.reason || 'unauthorized');
  }

  /**
   * POST: a session for `source` (the default one when undefined) from the client's offer.
   * Resolves once the server's candidates are gathered, with the answer that carries them.
   */
  async offer(source: string | undefined, sdp: string): Promise<{ resource: WhepResource; answer: string }> {
    if (!isDescriptionWithMedia(sdp)) {
      throw new WhepError(400, ErrorCode.VALIDATION_FAILED, 'the body is not an SDP offer');
    }
    const ownerId = `${OWNER_PREFIX}${randomUUID()}`;
    const gathering = this.gather(ownerId);
    try {
      // A WHEP client cannot renegotiate: stop and resume keep the m-line.
      const started = await this.sessions.start(ownerId, { source, offer: { type: 'offer', sdp } }, { renegotiation: false });
      const session = this.sessions.summary(started.sessionId);
      const answer = 'answer' in started ? started.answer : undefined;
      if (!session || !answer) throw new StreamingError(ErrorCode.INTERNAL, 'the session vanished');
      const resource: WhepResource = {
        id: randomBytes(18).toString('base64url'),
        sessionId: session.id,
        ownerId,
        source: session.source,
        etag: newEtag(),
      };
      this.byId.set(resource.id, resource);
      this.byOwner.set(ownerId, resource);
      await this.until(gathering.complete, this.options.gatherTimeoutMs);
      const descriptions = this.sessions.descriptions(session.id);
      if (!descriptions) {
        this.forget(resource);
        throw new StreamingError(ErrorCode.NEGOTIATION_FAILED, 'the session closed during gathering');
      }
      const local = descriptions.local ?? answer.sdp;
      return { resource, answer: withCandidates(local, gathering.candidates) };
    } finally {
      gathering.stop();
    }
  }

  /**
   * PATCH with a trickle-ice-sdpfrag: the client's candidates (resolves with nothing: 204),
   * or, when its ufrag is new, an ICE restart (RFC 9725 section 4.3.2): the session is
   * re-offered with the new credentials, and the server's new ones and candidates come back
   * in a fragment (200) with a new ETag. Media and the session carry on over the new path.
   */
  async patch(id: string, ifMatch: string | undefined, body: string): Promise<{ etag: string; fragment: string } | undefined> {
    const r = this.require(id);
    if (ifMatch !== undefined && ifMatch.trim() !== '*' && !etagMatches(ifMatch, r.etag)) {
      throw new WhepError(412, ErrorCode.INVALID_STATE, 'the ETag does not match the ICE session');
    }
    let fragment;
    try {
      fragment = parseSdpFragment(body);
    } catch (err) {
      throw new WhepError(400, ErrorCode.VALIDATION_FAILED, `not a trickle-ice-sdpfrag (${(err as Error).message})`);
    }
    const remote = this.sessions.descriptions(r.sessionId)?.remote;
    const current = iceUfragOf(remote);
    const owned = this.sessions.ownedBy(r.ownerId);
    if (fragment.ufrag !== undefined && current !== undefined && fragment.ufrag !== current) {
      if (!fragment.pwd) throw new WhepError(400, ErrorCode.VALIDATION_FAILED, 'an ICE restart needs a=ice-ufrag and a=ice-pwd');
      return this.restartIce(r, restartOffer(remote!, fragment.ufrag, fragment.pwd), fragment.candidates);
    }
    for (const c of fragment.candidates) await owned.candidate(r.sessionId, c);
    return undefined;
  }

  private async restartIce(r: WhepResource, offer: string, clientCandidates: IceCandidateInit[]): Promise<{ etag: string; fragment: string }> {
    const owned = this.sessions.ownedBy(r.ownerId);
    const gathering = this.gather(r.ownerId);
    try {
      const answer = await owned.renegotiate(r.sessionId, { type: 'offer', sdp: offer });
      for (const c of clientCandidates) await owned.candidate(r.sessionId, c);
      await this.until(gathering.complete, this.options.gatherTimeoutMs);
      r.etag = newEtag();
      return { etag: r.etag, fragment: restartFragment(answer.sdp, gathering.candidates) };
    } finally {
      gathering.stop();
    }
  }

  /** Collects the server candidates published for `ownerId` until gathering ends. */
  private gather(ownerId: string): { candidates: IceCandidateInit[]; complete: Promise<void>; stop(): void } {
    const candidates: IceCandidateInit[] = [];
    let gathered!: () => void;
    const complete = new Promise<void>((resolve) => (gathered = resolve));
    const onCandidate = (owner: string, e: SessionCandidateEvent) => {
      if (owner !== ownerId) return;
      if (e.candidate) candidates.push(e.candidate);
      else gathered();
    };
    this.sessions.events.on('candidate', onCandidate);
    return { candidates, complete, stop: () => this.sessions.events.off('candidate', onCandidate) };
  }

  /** DELETE: ends the session (reason `client-closed`). */
  delete(id: string): void {
    const r = this.require(id);
    this.sessions.ownedBy(r.ownerId).close(r.sessionId, 'client-closed');
    this.forget(r);
  }

  // --- internals ---------------------------------------------------------------------

  private require(id: string): WhepResource {
    const r = this.byId.get(id);
    if (!r) throw new WhepError(404, ErrorCode.SESSION_NOT_FOUND, 'no such WHEP session');
    return r;
  }

  private forget(r: WhepResource): void {
    this.byId.delete(r.id);
    if (this.byOwner.get(r.ownerId) === r) this.byOwner.delete(r.ownerId);
  }

  private async until(p: Promise<void>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}

function newEtag(): string {
  return `"${createHash('sha256').update(randomBytes(16)).digest('base64url').slice(0, 22)}"`;
}

/** `If-Match` holds a list of entity tags (weak ones compare by their opaque part). */
function etagMatches(header: string, etag: string): boolean {
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}
