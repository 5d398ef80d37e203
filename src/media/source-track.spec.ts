import { RtpHeader, RtpPacket } from 'werift';
import { ManualSource } from './sources/testing/manual-source';
import { SourceTrack } from './source-track';
import { PacketHistory, SharedPacket } from './fanout/shared-packet';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A packet; `marker` (the last packet of its frame) by default, as a one-packet frame has it. */
function packet(seq: number, ts: number, marker = true): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, payloadType: 96, marker }), Buffer.from([seq & 0xff]));
}

describe('SourceTrack', () => {
  it('stop() is idempotent: ended once, with its reason, and listeners dropped', () => {
    const track = new SourceTrack('s', () => undefined);
    const ended = jest.fn();
    track.on('ended', ended);
    track.stop('video-stopped');
    track.stop('again');
    expect(ended).toHaveBeenCalledTimes(1);
    expect(ended).toHaveBeenCalledWith('video-stopped');
    expect(track.ended).toBe(true);
    expect(track.reason).toBe('video-stopped');
    expect(track.listenerCount('ended')).toBe(0);
  });

  it('a resent group of pictures keeps the viewer sequence continuous, and live packets run on after it', () => {
    const out: Array<[number, number]> = [];
    const track = new SourceTrack('s', (p) => out.push([p.header.sequenceNumber, p.header.timestamp]));
    const gop = [packet(100, 3000), packet(101, 6000), packet(102, 9000)];
    for (const p of gop) track.deliver(p, () => gop);
    track.scheduleReplay();
    const next = packet(103, 12000);
    track.deliver(next, () => [...gop, next]);
    const seqs = out.map(([s]) => s);
    // 100..102 live, then the replayed 3 packets, then the live 103: no gaps, no repeats.
    expect(seqs).toEqual([100, 101, 102, 103, 104, 105, 106]);
    const ts = out.map(([, t]) => t);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]);
    // The shared packet is left as the source sent it (other viewers see the original).
    expect(next.header.sequenceNumber).toBe(103);
  });

  it('a numbered sink (the lean path) gets the same numbers as arguments, the header untouched', () => {
    const viaHeader: Array<[number, number]> = [];
    const viaArgs: Array<[number, number]> = [];
    const headers: Array<[number, number]> = [];
    const plain = new SourceTrack('s', (p) => viaHeader.push([p.header.sequenceNumber, p.header.timestamp]));
    const numbered = new SourceTrack(
      's',
      Object.assign(
        (p: RtpPacket, _shared?: SharedPacket, seq?: number, ts?: number) => {
          viaArgs.push([seq!, ts!]);
          headers.push([p.header.sequenceNumber, p.header.timestamp]);
        },
        { takesNumbers: true as const },
      ),
    );
    const history = new PacketHistory(16);
    const gop = [packet(100, 3000), packet(101, 6000), packet(102, 9000)];
    const shared = new Map(gop.map((p) => [p, history.push(p)]));
    const next = packet(103, 12000);
    shared.set(next, history.push(next));
    for (const t of [plain, numbered]) {
      for (const p of gop) t.deliver(p, () => gop, shared.get(p), (q) => shared.get(q));
      t.scheduleReplay();
      t.deliver(next, () => [...gop, next], shared.get(next), (q) => shared.get(q));
    }
    expect(viaArgs).toEqual(viaHeader);
    expect(viaArgs.map(([s]) => s)).toEqual([100, 101, 102, 103, 104, 105, 106]);
    // The numbered sink saw the source's own header every time.
    expect(headers.map(([s]) => s)).toEqual([100, 101, 102, 100, 101, 102, 103]);
  });
});

describe('MediaSource tracks', () => {
  it('a new viewer gets the cached group of pictures first; the source ending ends every track once', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    source.pushPacket(packet(1, 0), true);
    source.pushPacket(packet(2, 3000), false);
    const got: number[] = [];
    const track = source.subscribe((p) => got.push(p.header.sequenceNumber));
    // The keyframe at once, the rest of the group on the next turn.
    expect(got).toEqual([1]);
    await turn();
    expect(got).toEqual([1, 2]);
    source.pushPacket(packet(3, 6000), false);
    expect(got).toEqual([1, 2, 3]);
    expect(source.viewers).toBe(1);

    const ended = jest.fn();
    track.on('ended', ended);
    source.finish();
    expect(ended).toHaveBeenCalledWith('source-ended');
    expect(source.viewers).toBe(0);
    // After the end, a subscription is refused with an already ended track.
    const late = source.subscribe(() => undefined);
    expect(late.ended).toBe(true);
    await source.onModuleDestroy();
  });

  it('a viewer that stops its track is removed from the fan-out', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    const got: number[] = [];
    const track = source.subscribe((p) => got.push(p.header.sequenceNumber));
    source.pushPacket(packet(1, 0), true);
    track.stop('video-stopped');
    source.pushPacket(packet(2, 3000), false);
    expect(got).toEqual([1]);
    expect(source.viewers).toBe(0);
    await source.onModuleDestroy();
  });

  it('a new viewer gets the whole keyframe at once, the rest of the group paced, and live packets in order after it', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    // A keyframe of 3 packets (one timestamp), then 40 packets of 20 frames.
    source.pushPacket(packet(10, 0, false), true);
    source.pushPacket(packet(11, 0, false), false);
    source.pushPacket(packet(12, 0), false);
    for (let i = 0; i < 40; i++) source.pushPacket(packet(13 + i, 3000 * (1 + (i >> 1)), i % 2 === 1), false);
    const watcher: number[] = [];
    source.subscribe((p) => watcher.push(p.header.sequenceNumber));
    await turn();
    watcher.length = 0;
    const got: Array<[number, number]> = [];
    const track = source.subscribe((p) => got.push([p.header.sequenceNumber, p.header.timestamp]));
    expect(got.map(([s]) => s)).toEqual([10, 11, 12]);
    expect(track.catchingUp).toBe(true);
    // A live packet during the catch-up: the watcher has it at once; the new viewer after the cached ones.
    source.pushPacket(packet(53, 63000), false);
    expect(watcher).toEqual([53]);
    expect(got).toHaveLength(3);
    for (let i = 0; i < 10 && track.catchingUp; i++) await turn();
    expect(track.catchingUp).toBe(false);
    source.pushPacket(packet(54, 66000), false);
    expect(got.map(([s]) => s)).toEqual(Array.from({ length: 45 }, (_, i) => 10 + i));
    // The source's own timestamps: nothing shifted for a first join.
    expect(got[got.length - 1][1]).toBe(66000);
    expect(watcher).toEqual([53, 54]);
    await source.onModuleDestroy();
  });

  it('a new keyframe during a catch-up ends it: the viewer goes live from it, its sequence numbers without a gap', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    source.pushPacket(packet(100, 0), true);
    for (let i = 1; i <= 30; i++) source.pushPacket(packet(100 + i, 3000 * i), false);
    const got: number[] = [];
    const payloads: number[] = [];
    const track = source.subscribe((p) => {
      got.push(p.header.sequenceNumber);
      payloads.push(p.payload[0]);
    });
    expect(got).toEqual([100]);
    // The next keyframe comes before the catch-up ran: the rest of the old group is skipped.
    source.pushPacket(packet(131, 93000), true);
    source.pushPacket(packet(132, 96000), false);
    expect(track.catchingUp).toBe(false);
    expect(got).toEqual([100, 101, 102]);
    // Those are the new keyframe's packets (131, 132), renumbered to follow 100.
    expect(payloads).toEqual([100, 131, 132]);
    await turn();
    expect(got).toEqual([100, 101, 102]);
    await source.onModuleDestroy();
  });

  it('catch-ups take a bounded slice of each event-loop turn, shared round robin among the new viewers', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    source.pushPacket(packet(0, 0), true);
    for (let i = 1; i < 3000; i++) source.pushPacket(packet(i, 3000 * i), false);
    const slowSink = (out: number[]) => (p: RtpPacket) => {
      const until = performance.now() + 0.05;
      while (performance.now() < until);
      out.push(p.header.sequenceNumber);
    };
    const a: number[] = [];
    const b: number[] = [];
    source.subscribe(slowSink(a));
    source.subscribe(slowSink(b));
    // Each turn: about 2 ms at 50 us a packet (more on a loaded machine, never all of it),
    // the two viewers in turn, 8 packets at a time.
    let turns = 0;
    while (a.length + b.length < 6000 && turns < 1000) {
      const before = a.length + b.length;
      await turn();
      turns++;
      expect(a.length + b.length - before).toBeLessThan(2000);
      expect(Math.abs(a.length - b.length)).toBeLessThanOrEqual(8);
    }
    expect(turns).toBeGreaterThan(3);
    expect(a).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(b).toEqual(a);
    await source.onModuleDestroy();
  });

  it('every catching-up viewer gets a step each turn, even when the slice is spent on the first', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    source.pushPacket(packet(0, 0), true);
    for (let i = 1; i < 100; i++) source.pushPacket(packet(i, 3000 * i), false);
    const got = Array.from({ length: 5 }, () => [] as number[]);
    // Each packet takes 3 ms: one step (8 packets) of the first viewer spends the whole slice.
    for (const out of got) {
      source.subscribe((p) => {
        const until = performance.now() + 3;
        while (performance.now() < until);
        out.push(p.header.sequenceNumber);
      });
    }
    await turn();
    // The keyframe, then one step of 8 for each.
    for (const out of got) expect(out).toEqual(Array.from({ length: 9 }, (_, i) => i));
    await source.onModuleDestroy();
  });

  it('a viewer that leaves during its catch-up is sent nothing more', async () => {
    const source = new ManualSource();
    await source.onModuleInit();
    source.pushPacket(packet(0, 0), true);
    for (let i = 1; i < 50; i++) source.pushPacket(packet(i, 3000 * i), false);
    const got: number[] = [];
    const track = source.subscribe((p) => got.push(p.header.sequenceNumber));
    track.stop('video-stopped');
    await turn();
    expect(got).toEqual([0]);
    expect(source.viewers).toBe(0);
    await source.onModuleDestroy();
  });
});
