import { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Test } from '@nestjs/testing';
import { Ack, MessageBody, SubscribeMessage, WebSocketGateway, WsException } from '@nestjs/websockets';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { finalize, interval, map, of, throwError } from 'rxjs';
import { io, Socket } from 'socket.io-client';
import { LeanIoAdapter } from './lean-io.adapter';

/** What the gateway's handlers saw or did, for the cases whose effect is not a reply. */
const seen = { slowFinished: 0, streamStopped: 0 };

@WebSocketGateway()
class CasesGateway {
  @SubscribeMessage('value') value(@MessageBody() d: unknown) {
    return { echo: d };
  }
  @SubscribeMessage('promise') async promise(@MessageBody() d: unknown) {
    await delay(5);
    return { later: d };
  }
  @SubscribeMessage('event') event(@MessageBody() d: unknown) {
    return { event: 'told', data: d };
  }
  @SubscribeMessage('observable') observable() {
    return of(1, 2, 3).pipe(map((n) => ({ event: 'tick', data: n })));
  }
  @SubscribeMessage('nothing') nothing() {
    return undefined;
  }
  @SubscribeMessage('manual') manual(@MessageBody() d: unknown, @Ack() ack: (r: unknown) => void) {
    setTimeout(() => ack({ manual: d }), 5);
    return { notTheAck: true };
  }
  @SubscribeMessage('throws') throws() {
    throw new WsException('refused');
  }
  @SubscribeMessage('slow') async slow() {
    await delay(150);
    seen.slowFinished++;
    return { event: 'late', data: 1 };
  }
  @SubscribeMessage('stream') stream() {
    return interval(10).pipe(
      map((n) => ({ event: 'tick', data: n })),
      finalize(() => seen.streamStopped++),
    );
  }
  @SubscribeMessage('fails-later') failsLater() {
    return throwError(() => new Error('observable failed'));
  }
}

/**
 * Every case on Nest's own IoAdapter and on LeanIoAdapter: the lean one must answer exactly
 * as Nest's does (it replaces Nest's per-socket rxjs pipelines, not their behaviour).
 */
describe.each([
  ['Nest IoAdapter', (app: INestApplication) => new IoAdapter(app)],
  ['LeanIoAdapter', (app: INestApplication) => new LeanIoAdapter(app)],
])('%s', (_name, adapter) => {
  let app: INestApplication;
  let url: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ providers: [CasesGateway] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(adapter(app));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await app.close();
  });

  async function connect(): Promise<Socket> {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    });
    return s;
  }
  const events = (s: Socket, event: string, count: number) =>
    new Promise<unknown[]>((resolve) => {
      const got: unknown[] = [];
      const on = (d: unknown) => {
        got.push(d);
        if (got.length === count) {
          s.off(event, on);
          resolve(got);
        }
      };
      s.on(event, on);
    });

  it('acknowledges with a value, a promise, and an event reply', async () => {
    const s = await connect();
    await expect(s.timeout(2000).emitWithAck('value', { a: 1 })).resolves.toEqual({ echo: { a: 1 } });
    await expect(s.timeout(2000).emitWithAck('promise', 'x')).resolves.toEqual({ later: 'x' });
    const told = events(s, 'told', 1);
    s.emit('event', 42);
    await expect(told).resolves.toEqual([42]);
  });

  it('emits every value of an observable result, in order', async () => {
    const s = await connect();
    const ticks = events(s, 'tick', 3);
    s.emit('observable');
    await expect(ticks).resolves.toEqual([1, 2, 3]);
  });

  it('sends nothing for undefined, and leaves the ack to a handler that takes it (@Ack)', async () => {
    const s = await connect();
    await expect(s.timeout(200).emitWithAck('nothing')).rejects.toThrow(/timed out/);
    await expect(s.timeout(2000).emitWithAck('manual', 'm')).resolves.toEqual({ manual: 'm' });
  });

  it('hands several arguments to the handler as one array', async () => {
    const s = await connect();
    await expect(s.timeout(2000).emitWithAck('value', 'a', 'b')).resolves.toEqual({ echo: ['a', 'b'] });
  });

  it("routes a thrown WsException to Nest's 'exception' event and keeps handling the socket", async () => {
    const s = await connect();
    const exception = events(s, 'exception', 1);
    s.emit('throws');
    await expect(exception).resolves.toMatchObject([{ status: 'error', message: 'refused' }]);
    await expect(s.timeout(2000).emitWithAck('value', 2)).resolves.toEqual({ echo: 2 });
  });

  it('stops an observable result when the socket disconnects', async () => {
    const s = await connect();
    const before = seen.streamStopped;
    const ticks = events(s, 'tick', 2);
    s.emit('stream');
    await ticks;
    s.disconnect();
    const until = Date.now() + 2000;
    while (seen.streamStopped === before && Date.now() < until) await delay(10);
    expect(seen.streamStopped).toBe(before + 1);
  });

  it('lets a handler still running when its socket goes away finish, with no error', async () => {
    const s = await connect();
    const before = seen.slowFinished;
    s.emit('slow');
    await delay(30);
    s.disconnect();
    const until = Date.now() + 2000;
    while (seen.slowFinished === before && Date.now() < until) await delay(10);
    expect(seen.slowFinished).toBe(before + 1);
  });

  it("routes an observable result that fails to Nest's 'exception' event too", async () => {
    const s = await connect();
    const exception = events(s, 'exception', 1);
    s.emit('fails-later');
    await expect(exception).resolves.toMatchObject([{ status: 'error', message: 'Internal server error' }]);
    await expect(s.timeout(2000).emitWithAck('value', 3)).resolves.toEqual({ echo: 3 });
  });
});

