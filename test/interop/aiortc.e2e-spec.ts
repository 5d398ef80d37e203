import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TestApp, startApp } from '../helpers/app';

/**
 * Interoperability with a peer that is not a browser: Python aiortc (Debian's
 * python3-aiortc 1.4), which refuses offers without a=setup:actpass (RFC 8842).
 */
const PYTHON = '/usr/bin/python3';
const available =
  existsSync(PYTHON) &&
  spawnSyncOk(PYTHON, ['-c', 'import aiortc, socketio, aiohttp']);

function spawnSyncOk(cmd: string, args: string[]): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

if (!available && !process.env.CI) {
  console.warn('aiortc interop test skipped: install python3-aiortc python3-socketio python3-aiohttp');
}
const describeIf = available || process.env.CI ? describe : describe.skip;

describeIf('an aiortc viewer (not a browser)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(async () => {
    await t.close();
  });

  it('watches, has the server stop its video (actpass re-offer), resumes by offering, and keeps its data channel', async () => {
    const child = spawn(PYTHON, [join(__dirname, 'aiortc_viewer.py'), t.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const line = out.trim().split('\n').pop() ?? '{}';
    const result = JSON.parse(line) as { ok: boolean; error?: string; steps: Array<Record<string, unknown>> };
    if (!result.ok) throw new Error(`aiortc viewer failed: ${result.error}\n${err.slice(-3000)}`);
    expect(code).toBe(0);
    const byStep = Object.fromEntries(result.steps.map((s) => [s.step, s]));
    expect(byStep.streaming.pong).toEqual({ type: 'pong', id: 1 });
    expect(byStep['server-stop']).toMatchObject({
      state: 'data-only',
      setup_actpass: true,
      video_port0: true,
      connection: 'connected',
      pong: { type: 'pong', id: 2 },
    });
    expect(byStep['client-resume']).toMatchObject({ state: 'streaming', pong: { type: 'pong', id: 3 } });
  }, 120_000);
});
