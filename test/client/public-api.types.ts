/**
 * Compile-time checks of the client's public API (run by `npm run typecheck`; nothing runs
 * at test time): typed events, and internals that must stay private. Each
 * `@ts-expect-error` fails the type check if the line below it starts to compile.
 */
import { StreamingClient, ViewerSession, ViewerStats } from '../../src/client';

export async function typedEvents(client: StreamingClient, video: HTMLVideoElement): Promise<void> {
  const session: ViewerSession = await client.start({ video });
  session.addEventListener('message', (e) => {
    const data: string | ArrayBuffer = e.data;
    void data;
  });
  session.addEventListener('reconnecting', (e) => {
    const when: number = e.retryAt + e.attempt + e.maxAttempts;
    void when;
  });
  session.addEventListener('ice-restart', (e) => {
    const trigger: 'disconnected' | 'failed' | 'manual' = e.trigger;
    void trigger;
  });
  // @ts-expect-error a message event carries no `attempt`
  session.addEventListener('message', (e) => e.attempt);
  const stats: ViewerStats = await session.getStats();
  const report: RTCStatsReport = stats.report;
  void report;
  // send takes text and binary, and returns nothing (it queues or throws)
  const r: void = session.send(new Uint8Array([1]));
  void r;
  await client.close();
}

export function privateInternals(client: StreamingClient, session: ViewerSession): void {
  // @ts-expect-error internal
  void session.negotiate;
  // @ts-expect-error internal
  void session.serial;
  // @ts-expect-error internal
  void session.attempts;
  // @ts-expect-error internal
  void session.markClosed;
  // @ts-expect-error internal
  void client.reconnect;
  // @ts-expect-error internal
  void client.sessions;
}
