import { INestApplication, Type } from '@nestjs/common';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import { io } from 'socket.io-client';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../src/app.module';
import { MediaSource } from '../../src/media/media-source';
import { LeanIoAdapter } from '../../src/signalling/lean-io.adapter';
import type { ClientSocket } from '../../src/client/streaming-client';
import type { SessionOptions } from '../../src/session/session.options';
import type { SessionEvents, SessionService } from '../../src/session/session.service';
import type { StreamingModuleOptions } from '../../src/streaming.options';

/**
 * Media workers for every test application: `MEDIA_WORKERS=2 npx jest ...` runs a suite with
 * its sessions in two worker threads (default 0: the main thread), unless a test sets its own.
 * Carried by LOOPBACK_ONLY, which every test's session options start from.
 */
export const TEST_MEDIA_WORKERS = Number(process.env.MEDIA_WORKERS ?? 0) || 0;

/** Keeps every ICE packet on 127.0.0.1: only that address is gathered or paired. */
export const LOOPBACK_ONLY: Partial<SessionOptions> = {
  mediaWorkers: TEST_MEDIA_WORKERS,
  announcedAddresses: ['127.0.0.1'],
  bindAddress: '127.0.0.1',
  remoteAddressFilter: (address) => address.startsWith('127.'),
};

export interface TestApp {
  app: INestApplication;
  url: string;
  connect(): Promise<ClientSocket>;
  close(): Promise<void>;
}

/** Starts the real application on port 0 (loopback), with optional provider overrides. */
export async function startApp(
  opts: {
    session?: Partial<SessionOptions>;
    /** StreamingModule options besides the session ones (e.g. `sources`, `defaultSource`). */
    streaming?: StreamingModuleOptions;
    source?: Type<MediaSource> | MediaSource;
    customize?: (b: TestingModuleBuilder) => TestingModuleBuilder;
    /** Address to listen on (default 127.0.0.1; Firefox's tests use their veth address). */
    host?: string;
  } = {},
): Promise<TestApp> {
  let builder = Test.createTestingModule({
    imports: [
      AppModule.forRoot({ session: { ...LOOPBACK_ONLY, ...opts.session }, streaming: opts.streaming }),
    ],
  });
  if (opts.source) {
    builder =
      typeof opts.source === 'function'
        ? builder.overrideProvider(MediaSource).useClass(opts.source)
        : builder.overrideProvider(MediaSource).useValue(opts.source);
  }
  if (opts.customize) builder = opts.customize(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  // As src/main.ts does (test/embed.e2e-spec.ts keeps Nest's own adapter, as an embedder may).
  app.useWebSocketAdapter(new LeanIoAdapter(app));
  const host = opts.host ?? '127.0.0.1';
  await app.listen(0, host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://${host}:${port}`;
  const sockets: ClientSocket[] = [];
  return {
    app,
    url,
    async connect() {
      const socket: ClientSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      return socket;
    },
    async close() {
      for (const s of sockets) s.disconnect();
      await app.close();
    },
  };
}

/**
 * The fixture most end-to-end files share: a fresh application for every test (`fx.t`), and
 * the viewers pushed to `fx.viewers` closed after it. Call it at the top of a `describe`.
 */
export function appPerTest<V extends { close(): Promise<void> }>(
  opts?: Parameters<typeof startApp>[0],
): { readonly t: TestApp; readonly viewers: V[]; restart(opts: Parameters<typeof startApp>[0]): Promise<void> } {
  let current: TestApp | undefined;
  const viewers: V[] = [];
  beforeEach(async () => {
    current = await startApp(opts);
  });
  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await current?.close();
    current = undefined;
  });
  return {
    get t() {
      if (!current) throw new Error('no application outside a test');
      return current;
    },
    viewers,
    /** Replaces this test's application by one with other options. */
    async restart(other) {
      await current?.close();
      current = await startApp(other);
    },
  };
}

/**
 * Resolves with the service's `closed` event of that session (awaited rather than polling
 * `count`); rejects after `ms`. Call it before the action that closes the session.
 */
export function sessionClosed(
  sessions: SessionService,
  sessionId: string,
  ms = 5_000,
): Promise<SessionEvents['closed'][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sessions.events.off('closed', onClosed);
      reject(new Error(`session ${sessionId} did not close within ${ms} ms`));
    }, ms);
    const onClosed = (e: SessionEvents['closed'][0]) => {
      if (e.sessionId !== sessionId) return;
      clearTimeout(timer);
      sessions.events.off('closed', onClosed);
      resolve(e);
    };
    sessions.events.on('closed', onClosed);
  });
}
