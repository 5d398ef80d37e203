import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { io } from 'socket.io-client';
import { AppModule, AppOptions } from '../../src/app.module';
import type { ClientSocket } from '../../src/client/streaming-client';
import { LOOPBACK_ONLY } from '../helpers/app';

export interface HardenedApp {
  app: INestApplication;
  url: string;
  /** A socket.io client; `extraHeaders` (e.g. Origin) need the websocket transport's Node client. */
  socket(opts?: { extraHeaders?: Record<string, string> }): ClientSocket;
  connect(opts?: { extraHeaders?: Record<string, string> }): Promise<ClientSocket>;
  close(): Promise<void>;
}

/** The standalone application (AppModule, cluster and web modules too) on port 0, loopback only. */
export async function startHardenedApp(
  options: AppOptions = {},
  setup?: (app: INestApplication) => void,
): Promise<HardenedApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot({ ...options, session: { ...LOOPBACK_ONLY, ...options.session } })],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  setup?.(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const sockets: ClientSocket[] = [];
  const socket = (opts: { extraHeaders?: Record<string, string> } = {}) => {
    const s: ClientSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
    sockets.push(s);
    return s;
  };
  return {
    app,
    url,
    socket,
    async connect(opts) {
      const s = socket(opts);
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
      return s;
    },
    async close() {
      for (const s of sockets) s.disconnect();
      await app.close();
    },
  };
}

export async function waitUntil(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
