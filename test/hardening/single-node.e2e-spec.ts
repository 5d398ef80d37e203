/**
 * Issue #10, failures 1 and 5: on a single node (socket.io's in-memory adapter), the
 * cluster-wide answers come at once and log nothing; prototype names are not files.
 */
import { ErrorCode } from '../../src/protocol';
import { request } from '../helpers/werift-viewer';
import { HardenedApp, startHardenedApp } from './app';

const TOKEN = 'single-node-admin-token-0123';

describe('a single node', () => {
  let t: HardenedApp;
  const written: string[] = [];
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    // A cluster request timeout far above any answer time: an answer that waits for other
    // nodes (the bug: socket.io's in-memory adapter never calls back) takes 20 s, not ms.
    t = await startHardenedApp({ cluster: { adminToken: TOKEN, requestTimeoutMs: 20_000 } });
  });

  beforeEach(() => {
    written.length = 0;
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    spies.push(
      jest.spyOn(process.stderr, 'write').mockImplementation(capture as never),
      jest.spyOn(process.stdout, 'write').mockImplementation(capture as never),
      jest.spyOn(console, 'warn').mockImplementation(capture as never),
      jest.spyOn(console, 'error').mockImplementation(capture as never),
      jest.spyOn(console, 'log').mockImplementation(capture as never),
    );
  });

  afterEach(() => {
    for (const s of spies.splice(0)) s.mockRestore();
  });

  afterAll(() => t.close());

  const p99 = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.ceil(ms.length * 0.99) - 1];
  /**
   * The latency check: no call waits for the cluster (20 s here). The figure itself (p99,
   * under 50 ms on a quiet machine) is printed, not asserted tightly: the suite's lanes share
   * two cores, and timing targets belong in benchmarks.
   */
  function expectNoClusterWait(what: string, times: number[]): void {
    console.info(`${what}: p99 ${p99(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over ${times.length} calls`);
    expect(Math.max(...times)).toBeLessThan(2_000);
  }

  it('sources:list answers at once, without waiting for other nodes (100 calls), and logs nothing', async () => {
    const s = await t.connect();
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      const res = await request<{ sources: { id: string; viewers: number }[] }>(s, 'sources:list', {}, 5_000);
      times.push(performance.now() - t0);
      expect(res.ok).toBe(true);
    }
    expect(written.join('')).toBe('');
    expectNoClusterWait('sources:list', times);
  });

  it('GET /admin/viewers answers at once, without waiting for other nodes (100 calls), and logs nothing', async () => {
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      const res = await fetch(`${t.url}/admin/viewers`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as { complete: boolean; nodes: unknown[] };
      times.push(performance.now() - t0);
      expect(res.status).toBe(200);
      expect(body.complete).toBe(true);
      expect(body.nodes).toHaveLength(1);
    }
    const del = await fetch(`${t.url}/admin/sessions/nope`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(404);
    expect(written.join('')).toBe('');
    expectNoClusterWait('GET /admin/viewers', times);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'])(
    'GET /%s → 404',
    async (name) => {
      const res = await fetch(`${t.url}/${name}`);
      expect(res.status).toBe(404);
    },
  );

  it('the served files are still served', async () => {
    expect((await fetch(`${t.url}/`)).status).toBe(200);
    expect((await fetch(`${t.url}/index.html`)).status).toBe(200);
    expect((await fetch(`${t.url}/client.js`)).status).toBe(200);
    expect((await fetch(`${t.url}/nope.js`)).status).toBe(404);
  });

  it('an unknown event is still answered with a code', async () => {
    const s = await t.connect();
    const res = await request(s, 'nope', {});
    expect(res).toEqual({ ok: false, error: { code: ErrorCode.UNKNOWN_EVENT, message: expect.any(String) } });
  });
});
