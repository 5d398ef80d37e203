import { Logger } from '@nestjs/common';
import { RtpHeader, RtpPacket } from 'werift';
import { createSource } from './create-source';
import { MediaSource } from './media-source';
import { sourceConfigProblems } from './source-config';
import { sleep, until } from './sources/testing/helpers';

/** Counts starts and stops; its start can be made slow or failing. */
class CountingSource extends MediaSource {
  readonly id = 'cam';
  readonly kind = 'counting';
  readonly codec = 'VP8' as const;
  starts = 0;
  stops = 0;
  running = false;
  startDelayMs = 0;
  failNext = false;
  protected async start(): Promise<void> {
    this.starts++;
    if (this.startDelayMs) await sleep(this.startDelayMs);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('camera refused');
    }
    this.running = true;
  }
  protected stop(): void {
    this.stops++;
    this.running = false;
  }
  push(seq: number, key: boolean): void {
    this.publish(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000, marker: true, payloadType: 96 }), Buffer.from([seq & 0xff])), key);
  }
}

describe('on-demand sources', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  it('is idle until a viewer comes, stops the linger time after the last one left, and starts again', async () => {
    const s = new CountingSource().setOnDemand({ lingerMs: 200 });
    await s.onModuleInit();
    expect([s.currentState, s.starts]).toEqual(['idle', 0]);
    const a = s.subscribe(() => undefined);
    await until('started', () => s.running);
    expect(s.currentState).toBe('live');
    const b = s.subscribe(() => undefined);
    a.stop();
    b.stop();
    await sleep(100);
    expect([s.running, s.stops]).toEqual([true, 0]); // lingering
    await until('stopped after the linger time', () => !s.running, 1000);
    expect(s.currentState).toBe('idle');
    s.subscribe(() => undefined);
    await until('started again', () => s.running);
    expect([s.starts, s.stops]).toEqual([2, 1]);
    await s.onModuleDestroy();
    expect([s.running, s.stops, s.currentState]).toEqual([false, 2, 'stopped']);
  });

  it('a viewer back within the linger time cancels the stop; the cache is dropped on stop', async () => {
    const s = new CountingSource().setOnDemand({ lingerMs: 150 });
    await s.onModuleInit();
    s.subscribe(() => undefined).stop();
    await until('started', () => s.running);
    s.push(1, true);
    await sleep(50);
    const got: number[] = [];
    const t = s.subscribe((p) => got.push(p.header.sequenceNumber));
    expect(got).toEqual([1]); // the cached keyframe at once
    await sleep(300);
    expect([s.starts, s.stops]).toEqual([1, 0]);
    t.stop();
    await until('stopped', () => !s.running);
    const after: number[] = [];
    s.subscribe((p) => after.push(p.header.sequenceNumber));
    expect(after).toEqual([]); // nothing stale: the first viewer waits for a fresh keyframe
    await s.onModuleDestroy();
  });

  it('stops and starts one at a time (a stop during a slow start waits for it), and a failed start is retried by the next viewer', async () => {
    const s = new CountingSource().setOnDemand({ lingerMs: 0 });
    s.startDelayMs = 200;
    await s.onModuleInit();
    s.subscribe(() => undefined).stop(); // wanted, then unwanted at once
    await sleep(100);
    expect(s.stops).toBe(0); // the start is still running
    await until('stopped after the start finished', () => s.stops === 1, 2000);
    expect(s.running).toBe(false);
    s.startDelayMs = 0;
    s.failNext = true;
    s.subscribe(() => undefined);
    await until('offline after a failed start', () => s.currentState === 'offline');
    s.subscribe(() => undefined);
    await until('started by the next viewer', () => s.running);
    await s.onModuleDestroy();
    expect(s.running).toBe(false);
  });

  it('never starts when destroyed before any viewer', async () => {
    const s = new CountingSource().setOnDemand({ lingerMs: 100 });
    await s.onModuleInit();
    await s.onModuleDestroy();
    expect([s.starts, s.stops]).toEqual([0, 0]);
  });

  it('is configured with onDemand / lingerMs on rtsp and file sources only', () => {
    expect(
      sourceConfigProblems([
        { id: 'a', kind: 'rtsp', url: 'rtsp://127.0.0.1/x', onDemand: true, lingerMs: 5000 },
        { id: 'b', kind: 'file', path: '/x.ivf', onDemand: true },
      ]),
    ).toEqual([]);
    const problems = sourceConfigProblems([
      { id: 'c', kind: 'rtp', codec: 'VP8', port: 5004, onDemand: true },
      { id: 'd', kind: 'rtsp', url: 'rtsp://127.0.0.1/x', onDemand: 'yes', lingerMs: -1 },
    ]).join('\n');
    expect(problems).toMatch(/SOURCES\[0\]\.onDemand/);
    expect(problems).toMatch(/SOURCES\[1\]\.onDemand/);
    expect(problems).toMatch(/SOURCES\[1\]\.lingerMs/);
    expect(createSource({ id: 'a', kind: 'rtsp', url: 'rtsp://127.0.0.1/x', onDemand: true }).onDemand).toEqual({ lingerMs: 10_000, running: false });
    expect(createSource({ id: 'f', kind: 'file', path: '/x.ivf', onDemand: true, lingerMs: 0 }).onDemand?.lingerMs).toBe(0);
    expect(createSource({ id: 'g', kind: 'file', path: '/x.ivf' }).onDemand).toBeUndefined();
  });
});
