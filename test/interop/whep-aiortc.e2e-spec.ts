import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SessionService } from '../../src/session/session.service';
import { TestApp, startApp } from '../helpers/app';
import { until } from '../helpers/browser';

/**
 * A WHEP viewer that is neither a browser nor ours: Python aiortc over aiohttp, speaking
 * plain WHEP (test/interop/whep_aiortc.py). It must decode video frames.
 */
const PYTHON = '/usr/bin/python3';
const available = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import aiortc, aiohttp'], { stdio: 'ignore' }).status === 0;
if (!available && !process.env.CI) console.warn('WHEP aiortc interop test skipped: install python3-aiortc python3-aiohttp');
const describeIf = available || process.env.CI ? describe : describe.skip;

function runViewer(args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(PYTHON, [join(__dirname, 'whep_aiortc.py'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.on('exit', () => {
      try {
        resolve({ ...JSON.parse(out.trim().split('\n').pop() ?? '{}'), stderr: err.slice(-2000) });
      } catch {
        reject(new Error(`aiortc WHEP viewer printed no result:\n${out}\n${err.slice(-3000)}`));
      }
    }),
  );
}

describeIf('an aiortc WHEP viewer', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('receives decoded frames, and DELETE ends its session', async () => {
    t = await startApp({ streaming: { authorize: (h) => (h.auth.token === 'secret' ? true : { allow: false, reason: 'no' }) } });
    const result = await runViewer([`${t.url}/whep/test`, 'secret']);
    if (!result.ok) throw new Error(`aiortc WHEP viewer failed: ${JSON.stringify(result)}`);
    expect(result).toMatchObject({ status: 201, content_type: 'application/sdp', delete_status: 200, delete_again_status: 404, connection: 'connected' });
    expect(result.frames).toBeGreaterThan(5);
    expect(result.frame_size).toEqual([640, 360]);
    await until('session closed', () => t.app.get(SessionService).count === 0, 5000);
  }, 60_000);

  it('is refused without the token', async () => {
    t = await startApp({ streaming: { authorize: () => ({ allow: false, reason: 'no' }) } });
    const result = await runViewer([`${t.url}/whep/test`]);
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(t.app.get(SessionService).count).toBe(0);
  }, 60_000);
});
