import { Logger, OnApplicationShutdown, Optional, UseFilters, UsePipes } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'socket.io';
import {
  AckOk,
  CLIENT_EVENTS,
  ClientToServerEvents,
  ErrorCode,
  MAX_MESSAGE_BYTES,
  ServerToClientEvents,
  SessionCandidateEvent,
  SessionOfferEvent,
  SessionOfferResult,
  SessionStateEvent,
  SessionStartResult,
  SourcesListResult,
} from '../protocol';
import { ClusterService } from '../cluster/cluster.service';
import { SessionService } from '../session/session.service';
import {
  SessionAnswerDto,
  SessionCandidateDto,
  SessionIdDto,
  SessionMediaDto,
  SessionOfferDto,
  SourcesListDto,
  StartSessionDto,
} from './dto/session.dto';
import { SignallingExceptionFilter, reply } from './signalling.filter';
import { SignallingOptions, StreamingHandshake } from './signalling.options';
import { ConfigGetDto } from './dto/config.dto';
import { SignallingValidationPipe } from './validation.pipe';
import { ClientLimits } from './client-limits';
import { originChecker } from './origin-check';

type IoServer = Server<ClientToServerEvents, ServerToClientEvents>;
type AllowRequest = (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => void;
type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

const KNOWN_EVENTS = new Set<string>(CLIENT_EVENTS);

/**
 * The socket.io signalling gateway: parses and validates, delegates to the session
 * service, and relays the service's events to the socket that owns each session. Each
 * handler's return value is the request's ack.
 */
@WebSocketGateway({
  cors: { origin: true },
  maxHttpBufferSize: MAX_MESSAGE_BYTES,
  // Websocket first; long-polling stays available for proxies that block upgrades.
  transports: ['websocket', 'polling'],
})
@UseFilters(new SignallingExceptionFilter())
@UsePipes(new SignallingValidationPipe())
export class SignallingGateway
  implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnApplicationShutdown
{
  @WebSocketServer() private server!: IoServer;
  private readonly log = new Logger(SignallingGateway.name);
  private readonly unsubscribe: (() => void)[] = [];
  private limits!: ClientLimits;

  constructor(
    private readonly sessions: SessionService,
    @Optional() private readonly cluster?: ClusterService,
    @Optional() private readonly signalling: SignallingOptions = new SignallingOptions(),
  ) {}

  afterInit(): void {
    this.limits = new ClientLimits(this.signalling.limits);
    this.useOriginCheck();
    this.useConnectionLimit();
    this.useAuthorization();
    this.cluster?.attach(this.server);
    // A session's socket is always on this node: `.local` keeps these off the Redis adapter.
    const ev = this.sessions.events;
    const handlers = {
      candidate: (ownerId: string, e: SessionCandidateEvent) => this.server.local.to(ownerId).emit('session:candidate', e),
      offer: (ownerId: string, e: SessionOfferEvent) => this.server.local.to(ownerId).emit('session:offer', e),
      state: (ownerId: string, e: SessionStateEvent) => {
        if (e.state !== 'connecting') this.limits.settled(e.sessionId, e.state === 'closed');
        this.server.local.to(ownerId).emit('session:state', e);
      },
    };
    ev.on('candidate', handlers.candidate);
    ev.on('offer', handlers.offer);
    ev.on('state', handlers.state);
    this.unsubscribe.push(() => {
      ev.off('candidate', handlers.candidate);
      ev.off('offer', handlers.offer);
      ev.off('state', handlers.state);
    });
  }

  // Kept until the application shuts down (not on module destroy): a graceful shutdown
  // closes the sessions first, and their `closed` states must still reach the clients.
  onApplicationShutdown(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /**
   * Browsers always send `Origin` on a websocket or XHR: when the CORS option names the
   * allowed origins, a handshake from any other is refused (HTTP 403) before socket.io
   * answers it. Set on the engine, so it holds for every namespace of this server.
   */
  private useOriginCheck(): void {
    const allowed = originChecker(this.signalling.gateway.cors);
    if (!allowed) return;
    const io = (this.server as unknown as { server?: Server }).server ?? (this.server as unknown as Server);
    const opts = (io.engine as unknown as { opts: { allowRequest?: AllowRequest } }).opts;
    const previous = opts.allowRequest;
    opts.allowRequest = (req, callback) => {
      const origin = req.headers.origin;
      if (origin === undefined) return previous ? previous(req, callback) : callback(null, true);
      allowed(origin).then(
        (ok) => {
          if (!ok) return callback('origin not allowed', false);
          if (previous) previous(req, callback);
          else callback(null, true);
        },
        () => callback('origin not allowed', false),
      );
    };
  }

  /** At most `maxSocketsPerAddress` sockets per client address; refused with TOO_MANY_CONNECTIONS. */
  private useConnectionLimit(): void {
    this.server.use((socket, next) => {
      const address = this.limits.address(socket.handshake.address, socket.handshake.headers);
      const release = this.limits.openSocket(address);
      if (typeof release === 'string') {
        return next(Object.assign(new Error(release), { data: { code: ErrorCode.TOO_MANY_CONNECTIONS, message: release } }));
      }
      (socket.data as { address?: string }).address = address;
      socket.once('disconnect', release);
      next();
    });
  }

  /**
   * The `authorize` hook as socket.io middleware: a refused socket never connects, and its
   * client's `connect_error` carries the reason (`err.message`, `err.data.code` UNAUTHORIZED).
   */
  private useAuthorization(): void {
    const authorize = this.signalling.authorize;
    if (!authorize) return;
    this.server.use((socket, next) => {
      const h = socket.handshake;
      const handshake: StreamingHandshake = {
        headers: h.headers,
        auth: (h.auth ?? {}) as Record<string, unknown>,
        query: h.query as Record<string, unknown>,
        address: h.address,
        secure: h.secure,
        url: h.url,
      };
      const deny = (reason: string) =>
        next(Object.assign(new Error(reason), { data: { code: ErrorCode.UNAUTHORIZED, message: reason } }));
      Promise.resolve()
        .then(() => authorize(handshake))
        .then(
          (result) => (result === true ? next() : deny(result?.reason || 'unauthorized')),
          (err: Error) => {
            this.log.error(`authorize hook failed: ${err?.stack ?? String(err)}`);
            deny('unauthorized');
          },
        );
    });
  }

  @SubscribeMessage('config:get')
  config(@MessageBody() _dto: ConfigGetDto): AckOk<{ iceServers: SignallingOptions['clientIceServers'] }> {
    return { ok: true, iceServers: this.signalling.clientIceServers };
  }

  handleConnection(socket: IoSocket): void {
    // Every incoming event: the socket's rate first (RATE_LIMITED, the event is dropped),
    // then unknown events answered UNKNOWN_EVENT.
    socket.use(([event, ...args], next) => {
      const ack = args[args.length - 1];
      this.limits.allowEvent(socket.id).then(
        (allowed) => {
          if (!allowed) {
            return reply(socket as Socket, event, ack, { code: ErrorCode.RATE_LIMITED, message: 'too many requests; slow down' });
          }
          if (!KNOWN_EVENTS.has(event)) {
            return reply(socket as Socket, event, ack, { code: ErrorCode.UNKNOWN_EVENT, message: 'unknown event' });
          }
          next();
        },
        (err: Error) => next(err),
      );
    });
  }

  handleDisconnect(socket: IoSocket): void {
    this.limits?.forgetSocket(socket.id);
    const n = this.sessions.ownedBy(socket.id).closeAll('client-disconnected');
    if (n) this.log.log(`socket gone; closed ${n} session(s)`);
  }

  @SubscribeMessage('sources:list')
  async sourcesList(@MessageBody() _dto: SourcesListDto): Promise<AckOk<SourcesListResult>> {
    const sources = this.sessions.listSources();
    if (!this.cluster) return { ok: true, sources };
    // In a cluster, `viewers` counts every node's viewers: ours plus what the others answer.
    const others = (await this.cluster.viewerCounts()).nodes.slice(1);
    const remote = (id: string) => others.reduce((n, node) => n + (node.sources[id] ?? 0), 0);
    return { ok: true, sources: sources.map((s) => ({ ...s, viewers: s.viewers + remote(s.id) })) };
  }

  @SubscribeMessage('session:start')
  async start(
    @ConnectedSocket() socket: IoSocket,
    @MessageBody() dto: StartSessionDto,
  ): Promise<AckOk<SessionStartResult>> {
    const address = (socket.data as { address?: string }).address ?? socket.handshake.address;
    const slot = this.limits.beginSession(address);
    let result: SessionStartResult;
    try {
      result = await this.sessions.ownedBy(socket.id).start(dto);
    } catch (err) {
      slot.release();
      throw err;
    }
    // The client may have gone while we negotiated: do not leave its session behind.
    if (socket.disconnected) this.sessions.ownedBy(socket.id).closeAll('client-disconnected');
    // Counted until it leaves `connecting` (see ClientLimits.started for one already closed).
    slot.started(result.sessionId);
    return { ok: true, ...result };
  }

  @SubscribeMessage('session:answer')
  async answer(@ConnectedSocket() socket: IoSocket, @MessageBody() dto: SessionAnswerDto): Promise<AckOk<object>> {
    await this.sessions.ownedBy(socket.id).answer(dto.sessionId, dto.answer);
    return { ok: true };
  }

  @SubscribeMessage('session:offer')
  async offer(
    @ConnectedSocket() socket: IoSocket,
    @MessageBody() dto: SessionOfferDto,
  ): Promise<AckOk<SessionOfferResult>> {
    const answer = await this.sessions.ownedBy(socket.id).renegotiate(dto.sessionId, dto.offer);
    return { ok: true, answer };
  }

  @SubscribeMessage('session:candidate')
  async candidate(
    @ConnectedSocket() socket: IoSocket,
    @MessageBody() dto: SessionCandidateDto,
  ): Promise<AckOk<object>> {
    await this.sessions.ownedBy(socket.id).candidate(dto.sessionId, dto.candidate);
    return { ok: true };
  }

  @SubscribeMessage('session:close')
  close(@ConnectedSocket() socket: IoSocket, @MessageBody() dto: SessionIdDto): AckOk<object> {
    this.sessions.ownedBy(socket.id).close(dto.sessionId);
    return { ok: true };
  }

  @SubscribeMessage('session:stop-video')
  async stopVideo(@ConnectedSocket() socket: IoSocket, @MessageBody() dto: SessionMediaDto): Promise<AckOk<object>> {
    await this.sessions.ownedBy(socket.id).stopVideo(dto.sessionId, undefined, dto.kind);
    return { ok: true };
  }

  @SubscribeMessage('session:resume-video')
  async resumeVideo(@ConnectedSocket() socket: IoSocket, @MessageBody() dto: SessionMediaDto): Promise<AckOk<object>> {
    await this.sessions.ownedBy(socket.id).resumeVideo(dto.sessionId, dto.kind);
    return { ok: true };
  }
}
