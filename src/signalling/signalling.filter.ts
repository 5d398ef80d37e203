import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { StreamingError } from '../common/streaming-error';
import { AckError, ErrorBody, ErrorCode } from '../protocol';

/**
 * Turns every failure of a gateway handler into `{ ok: false, error: { code, message } }`
 * on the request's ack (or a `server:error` event when the client sent no ack). Bound on
 * the gateway class: global filters do not reach gateways in every Nest version.
 */
@Catch()
export class SignallingExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger('Signalling');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ws = host.switchToWs();
    const client = ws.getClient<Socket>();
    const ack = host.getArgByIndex(2) as unknown;
    const pattern = host.getArgByIndex(3) as unknown;
    const error = toErrorBody(exception);
    if (error.code === ErrorCode.INTERNAL) {
      this.log.error(`${String(pattern)}: ${(exception as Error)?.stack ?? String(exception)}`);
    }
    reply(client, typeof pattern === 'string' ? pattern : undefined, ack, error);
  }
}

export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof StreamingError) return { code: exception.code, message: exception.message };
  if (exception instanceof WsException) {
    const e = exception.getError();
    return { code: ErrorCode.VALIDATION_FAILED, message: typeof e === 'string' ? e : 'invalid request' };
  }
  // Never leak internals (stack, SDP, payloads) to the client.
  return { code: ErrorCode.INTERNAL, message: 'internal error' };
}

export function reply(client: Socket, event: string | undefined, ack: unknown, error: ErrorBody): void {
  if (typeof ack === 'function') {
    (ack as (r: AckError) => void)({ ok: false, error });
  } else {
    client.emit('server:error', { ...error, ...(event ? { event } : {}) });
  }
}
