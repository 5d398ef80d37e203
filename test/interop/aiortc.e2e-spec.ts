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

  it.each([
    ['classic', 'video and data channel in one offer: the video is the BUNDLE tag'],
    ['data-first', 'only a data channel offered, the server adds the video'],
  ] as const)('%s (%s): watches, server stop, server resume (and, classic, its own stop and resumes): frames back and the data channel each time', async (mode: 'classic' | 'data-first', _what: string) => {
    const child = spawn(PYTHON, [join(__dirname, 'aiortc_viewer.py'), t.url, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      if (process.env.AIORTC_DEBUG) process.stderr.write(d);
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const line = out.trim().split('\n').pop() ?? '{}';
    const result = JSON.parse(line) as { ok: boolean; error?: string; steps: Array<Record<string, unknown>> };
    if (!result.ok) throw new Error(`aiortc viewer failed: ${result.error}\n${err.slice(-3000)}`);
    expect(code).toBe(0);
    const byStep = Object.fromEntries(result.steps.map((s) => [s.step, s]));
    expect(byStep.streaming.pong).toEqual({ type: 'pong', id: 1 });
    // classic: the video m-line is the BUNDLE tag, the server parks it (inactive) instead of
    // port 0; data-first: it rejects it, and the resume appends a new m-line.
    const tag = mode === 'classic';
    expect(byStep['server-stop']).toMatchObject({
      state: 'data-only',
      reason: 'video-stopped',
      setup_actpass: true,
      video_port0: !tag,
      ...(tag ? { video_inactive: true } : {}),
      video_is_tag: tag,
      connection: 'connected',
      pong: { type: 'pong', id: 2 },
    });
    expect(byStep['server-stop'].late_frames).toBeLessThanOrEqual(3);
    expect(byStep['server-resume']).toMatchObject({ state: 'streaming', pong: { type: 'pong', id: 3 }, media: tag ? 1 : 2 });
    if (mode === 'data-first') return; // see aiortc_viewer.py
    expect(byStep['client-stop']).toMatchObject({ state: 'data-only', reason: 'video-stopped', connection: 'connected', pong: { type: 'pong', id: 4 } });
    expect(byStep['client-stop'].late_frames).toBeLessThanOrEqual(3);
    expect(byStep['resume-after-client-stop']).toMatchObject({ state: 'streaming', pong: { type: 'pong', id: 5 } });
    expect(byStep['client-resume']).toMatchObject({ state: 'streaming', pong: { type: 'pong', id: 6 } });
  }, 120_000);
});
