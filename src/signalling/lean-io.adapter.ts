import { Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { isObservable, type Observable } from 'rxjs';

/**
 * Nest's socket.io adapter with each socket's message handlers bound by plain listeners.
 *
 * Why: Nest's `IoAdapter` gives every socket, for every `@SubscribeMessage` handler, an rxjs
 * pipeline of its own (`fromEvent` -> `mergeMap` -> `filter` -> `map` -> `takeUntil` of a
 * shared `first()` of `disconnect`). With the gateway's nine handlers that is about 220
 * closures, 36 `OperatorSubscriber`s and their contexts and arrays per connected viewer,
 * kept for as long as the viewer watches: about a sixth of the JS heap a viewer costs
 * (heap snapshots in bench/fanout.mjs `--heap`), and work at every connection.
 *
 * Behaviour is Nest's (test/signalling/lean-io-adapter.e2e-spec.ts runs the same cases on
 * both adapters): the handler is called as the event arrives; its result, a value, a
 * promise or an observable (as Nest's `pickResult` takes it), is sent for each value that
 * is not `null`/`undefined`: `{ event, data }` is emitted as that event, anything else is
 * the acknowledgement (unless the handler acknowledges itself, `@Ack()`); nothing is sent
 * once the socket has disconnected, and an observable result is unsubscribed then. Nest's
 * exception filters see a handler's errors (thrown, rejected, or an erroring observable)
 * before the adapter does; one that still gets here is logged (rxjs would rethrow it from a
 * timer, which ends the process).
 *
 * The service's entry point uses it (and `RedisIoAdapter` extends it); an application that
 * embeds the module chooses its own adapter (`app.useWebSocketAdapter(new LeanIoAdapter(app))`).
 */
// The socket.io that Nest's adapter itself resolves (it may carry a copy of its own).
type Socket = Parameters<IoAdapter['bindMessageHandlers']>[0];

export class LeanIoAdapter extends IoAdapter {
  private readonly leanLog = new Logger('LeanIoAdapter');

  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    // Nest's own transform (pickResult, then mergeAll) is what `deliver` does without rxjs.
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    for (const { message, callback, isAckHandledManually } of handlers) {
      const event = String(message);
      socket.on(event, (...args: unknown[]) => {
        // As rxjs' fromEvent hands them on: one argument as itself, several as an array.
        const { data, ack } = this.mapPayload(args.length > 1 ? args : args[0]);
        const reply = (response: unknown): void => {
          if (response === null || response === undefined || socket.disconnected) return;
          const r = response as { event?: string; data?: unknown };
          if (r.event) {
            socket.emit(r.event, r.data);
            return;
          }
          if (!isAckHandledManually && typeof ack === 'function') ack(response);
        };
        const failed = (err: unknown): void => {
          this.leanLog.error(`handler of '${event}' failed: ${err instanceof Error ? err.stack : String(err)}`);
        };
        let result: unknown;
        try {
          result = callback(data, ack);
        } catch (err) {
          failed(err);
          return;
        }
        // Always after the handler has returned, as Nest's promise-based transform does.
        Promise.resolve(result).then((value) => {
          if (!isObservable(value)) return reply(value);
          if (socket.disconnected) return;
          const subscription = value.subscribe({ next: reply, error: failed });
          if (!subscription.closed) {
            const stop = (): void => subscription.unsubscribe();
            socket.once('disconnect', stop);
            subscription.add(() => socket.off('disconnect', stop));
          }
        }, failed);
      });
    }
  }
}
