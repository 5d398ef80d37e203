import { Logger } from '@nestjs/common';
import { FfmpegProcess } from './ffmpeg-process';
import { childPids, pidAlive, until } from './testing/helpers';

jest.setTimeout(20_000);

/** Uses node as a stand-in child: `-e SCRIPT`. */
function nodeChild(script: string, extra: Partial<ConstructorParameters<typeof FfmpegProcess>[0]> = {}): FfmpegProcess {
  return new FfmpegProcess({ ffmpegPath: process.execPath, args: () => ['-e', script], logger: new Logger('test'), ...extra });
}

describe('FfmpegProcess', () => {
  let proc: FfmpegProcess | undefined;
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));
  afterEach(async () => {
    await proc?.stop();
    proc = undefined;
    expect(childPids('node')).toEqual([]);
  });

  it('restarts a dying child with a doubling delay, capped', async () => {
    proc = nodeChild('process.exit(3)', { backoff: { initialMs: 20, maxMs: 80, stableMs: 10_000 } });
    const delays: number[] = [];
    const codes: (number | null)[] = [];
    proc.on('restarting', (d) => delays.push(d));
    proc.on('exit', (c) => codes.push(c));
    proc.start();
    await until('five restarts', () => delays.length >= 5);
    expect(delays.slice(0, 5)).toEqual([20, 40, 80, 80, 80]);
    expect(codes.every((c) => c === 3)).toBe(true);
  });

  it('resets the delay after a stable run', async () => {
    proc = nodeChild('setTimeout(() => process.exit(1), 150)', { backoff: { initialMs: 20, maxMs: 1000, stableMs: 100 } });
    const delays: number[] = [];
    proc.on('restarting', (d) => delays.push(d));
    proc.start();
    await until('three restarts', () => delays.length >= 3);
    expect(delays.slice(0, 3)).toEqual([20, 20, 20]);
  });

  it('does not restart when restart is off', async () => {
    proc = nodeChild('process.exit(0)', { restart: false });
    const exits: (number | null)[] = [];
    proc.on('exit', (c) => exits.push(c));
    proc.start();
    await until('the exit', () => exits.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(proc.spawns).toBe(1);
    expect(proc.pid).toBeUndefined();
  });

  it('stop() sends SIGTERM, then SIGKILL to a child that ignores it', async () => {
    proc = nodeChild("process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.error('ready')", {
      killTimeoutMs: 300,
    });
    proc.start();
    const pid = proc.pid!;
    // Give node time to install its SIGTERM handler.
    await until('the child to be ready', () => proc!.stderrTail.includes('ready'), 5000);
    const t0 = performance.now();
    await proc.stop();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(pidAlive(pid)).toBe(false);
  });

  it('stop() is quick with a child that obeys SIGTERM, and idempotent', async () => {
    proc = nodeChild('setInterval(() => {}, 1000)');
    proc.start();
    const pid = proc.pid!;
    await proc.stop();
    await proc.stop();
    expect(pidAlive(pid)).toBe(false);
  });

  it('survives a missing binary (reports an exit and retries)', async () => {
    proc = new FfmpegProcess({ ffmpegPath: '/nonexistent/ffmpeg', args: () => [], backoff: { initialMs: 20 }, logger: new Logger('t') });
    const exits: (number | null)[] = [];
    proc.on('exit', (c) => exits.push(c));
    proc.start();
    await until('two failed spawns', () => exits.length >= 2);
    expect(exits[0]).toBeNull();
  });
});
