/**
 * Issue #10, points 6 and 7: the Origin of every socket.io handshake is checked against the
 * CORS origins; per-address limits (sockets, sessions in progress) and the per-socket event
 * rate hold under a flood, each refusal with its code, while a bystander keeps streaming.
 */
import { request as httpRequest } from 'node:http';
import type { ClientSocket } from '../../src/client/streaming-client';
import { ErrorCode } from '../../src/protocol';
import { WeriftViewer, request } from '../helpers/werift-viewer';
import { HardenedApp, startHardenedApp } from './app';

const GOOD = 'https://viewer.example';
const EVIL = 'https://evil.example';

/** The outcome of a connection attempt: connected, or the refusal's code/message. */
function attempt(s: ClientSocket): Promise<{ connected: boolean; code?: string; message?: string }> {
  return new Promise((resolve) => {
    s.once('connect', () => resolve({ connected: true }));
    s.once('connect_error', (err: Error & { data?: { code?: string } }) =>
      resolve({ connected: false, code: err.data?.code, message: err.message }),
    );
  });
}

/** A raw engine.io polling handshake with this Origin: the HTTP status. */
function pollingHandshake(url: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('origins and per-client limits, while a bystander streams', () => {
  let t: HardenedApp;
  let bystander: WeriftViewer;

  beforeEach(async () => {
    t = await startHardenedApp({
      session: { maxSessionsPerClient: 4 },
      streaming: {
        gateway: { cors: { origin: [GOOD] } },
        limits: { maxSocketsPerAddress: 10, maxSessionsInProgressPerAddress: 3, eventsPerSecond: 20, eventBurst: 20 },
      },
    });
    bystander = new WeriftViewer(await t.connect({ extraHeaders: { origin: GOOD } }));
    await bystander.startDataFirst();
    await bystander.waitForState('streaming');
    await bystander.waitForPackets(5);
  });

  afterEach(async () => {
    try {
      expect(bystander.socket.connected).toBe(true);
      expect(bystander.state).toBe('streaming');
      const n = bystander.packets;
      await bystander.waitForPackets(n + 10);
      expect(await bystander.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    } finally {
      await bystander.close();
      await t.close();
    }
  });

  it('refuses a websocket (and a polling handshake) from an origin outside CORS_ORIGINS', async () => {
    const evil = await attempt(t.socket({ extraHeaders: { origin: EVIL } }));
    expect(evil.connected).toBe(false);
    const good = await attempt(t.socket({ extraHeaders: { origin: GOOD } }));
    expect(good.connected).toBe(true);
    // No Origin header: not a browser, so no cross-site page behind it.
    expect((await attempt(t.socket())).connected).toBe(true);
    expect(await pollingHandshake(t.url, EVIL)).toBe(403);
    expect(await pollingHandshake(t.url, GOOD)).toBe(200);
  });

  it('sockets per address: the 11th and later are refused TOO_MANY_CONNECTIONS; closing one frees a place', async () => {
    const sockets = Array.from({ length: 30 }, () => t.socket());
    const outcomes = await Promise.all(sockets.map(attempt));
    const connected = outcomes.filter((o) => o.connected).length;
    expect(connected).toBe(9); // the bystander holds the 10th
    for (const o of outcomes.filter((x) => !x.connected)) expect(o.code).toBe(ErrorCode.TOO_MANY_CONNECTIONS);
    sockets.find((s) => s.connected)!.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    expect((await attempt(t.socket())).connected).toBe(true);
    for (const s of sockets) s.disconnect();
  });

  it('sessions in progress per address: the 4th unanswered start is refused CAPACITY_EXCEEDED', async () => {
    const a = await t.connect();
    const b = await t.connect();
    const started = [await request(a, 'session:start', {}), await request(a, 'session:start', {}), await request(b, 'session:start', {})];
    for (const r of started) expect(r.ok).toBe(true);
    const refused = await request(b, 'session:start', {});
    expect(refused).toEqual({ ok: false, error: { code: ErrorCode.CAPACITY_EXCEEDED, message: expect.stringMatching(/in progress/) } });
    // Once a pending session goes, its place is free again.
    a.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    expect((await request(b, 'session:start', {})).ok).toBe(true);
  });

  it('events per socket: a flood of 2,000 events is mostly refused RATE_LIMITED; the rate comes back', async () => {
    const s = await t.connect();
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 2_000 }, () => request(s, 'sources:list', {}, 20_000)));
    const seconds = (Date.now() - t0) / 1000;
    const ok = results.filter((r) => r.ok).length;
    const limited = results.filter((r) => !r.ok && r.error.code === ErrorCode.RATE_LIMITED).length;
    expect(ok + limited).toBe(2_000);
    // 20 per second, plus a burst of 20 within 10 s.
    expect(ok).toBeLessThanOrEqual(20 + 20 + Math.ceil(seconds + 1) * 20);
    expect(limited).toBeGreaterThan(1_500);
    // Unknown events are counted too: a burst of them (200 at once, far over 20/s plus the
    // burst, however slowly a loaded machine got through the flood) is refused RATE_LIMITED,
    // not UNKNOWN_EVENT.
    const nopes = await Promise.all(Array.from({ length: 200 }, () => request(s, 'nope', {}, 20_000)));
    const nopeCodes = nopes.map((r) => (r.ok ? 'ok' : r.error.code));
    expect(nopeCodes.filter((c) => c === ErrorCode.RATE_LIMITED).length).toBeGreaterThan(100);
    expect(nopeCodes.every((c) => c === ErrorCode.RATE_LIMITED || c === ErrorCode.UNKNOWN_EVENT)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await request(s, 'sources:list', {})).ok).toBe(true);
    // Another socket of the same address has its own rate.
    expect((await request(await t.connect(), 'sources:list', {})).ok).toBe(true);
  });
});

describe('behind a load balancer (trustProxy: 1)', () => {
  it('counts each X-Forwarded-For client address, not the balancer', async () => {
    const t = await startHardenedApp({ streaming: { limits: { maxSocketsPerAddress: 2, trustProxy: 1 } } });
    try {
      const from = (address: string) => attempt(t.socket({ extraHeaders: { 'x-forwarded-for': `198.51.100.99, ${address}` } }));
      const outcomes = [await from('203.0.113.1'), await from('203.0.113.1'), await from('203.0.113.1'), await from('203.0.113.2')];
      expect(outcomes.map((o) => o.connected)).toEqual([true, true, false, true]);
      expect(outcomes[2].code).toBe(ErrorCode.TOO_MANY_CONNECTIONS);
    } finally {
      await t.close();
    }
  });
});
