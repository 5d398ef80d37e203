import { RtpHeader, RtpPacket } from 'werift';
import { ManualSource } from './sources/testing/manual-source';
import { SourceTrack } from './source-track';
import { PacketHistory, SharedPacket } from './fanout/shared-packet';

function packet(seq: number, ts: number): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, payloadType: 96 }), Buffer.from([seq & 0xff]));
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
});
