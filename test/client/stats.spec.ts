import { summarizeStats } from '../../src/client/stats';

/** A getStats() report as Chromium shapes it (the fields the summary reads). */
function report(t: number, bytes: number, packets: number, lost: number): RTCStatsReport {
  const entries: Record<string, unknown>[] = [
    { id: 'T01', type: 'transport', timestamp: t, selectedCandidatePairId: 'CP1' },
    { id: 'CP1', type: 'candidate-pair', timestamp: t, currentRoundTripTime: 0.012 },
    { id: 'CP2', type: 'candidate-pair', timestamp: t, currentRoundTripTime: 0.5 },
    { id: 'C1', type: 'codec', timestamp: t, mimeType: 'video/VP8' },
    {
      id: 'IT1',
      type: 'inbound-rtp',
      kind: 'video',
      timestamp: t,
      codecId: 'C1',
      frameWidth: 640,
      frameHeight: 360,
      framesPerSecond: 30,
      framesDecoded: 300,
      bytesReceived: bytes,
      packetsReceived: packets,
      packetsLost: lost,
      jitter: 0.004,
      jitterBufferDelay: 1.5,
      jitterBufferEmittedCount: 300,
    },
  ];
  return new Map(entries.map((e) => [e.id as string, e])) as unknown as RTCStatsReport;
}

describe('summarizeStats', () => {
  it('reads resolution, frame rate, codec, RTT of the selected pair, jitter and jitter-buffer delay', () => {
    const { stats } = summarizeStats(report(1000, 10_000, 100, 0));
    expect(stats).toMatchObject({
      width: 640,
      height: 360,
      framesPerSecond: 30,
      codec: 'video/VP8',
      roundTripTimeMs: 12,
      jitterMs: 4,
      jitterBufferDelayMs: 5,
    });
    // No rate on the first sample.
    expect(stats.bitrate).toBeUndefined();
    expect(stats.packetLossRatio).toBeUndefined();
  });

  it('turns counters into rates against the previous sample', () => {
    const first = summarizeStats(report(1000, 10_000, 100, 0));
    const { stats } = summarizeStats(report(3000, 260_000, 290, 10), first.baseline);
    expect(stats.bitrate).toBe(1_000_000); // 250 kB in 2 s
    expect(stats.packetLossRatio).toBe(0.05); // 10 lost of 200
  });

  it('starts again when the counters do (a resumed video is a new stream)', () => {
    const first = summarizeStats(report(1000, 500_000, 1000, 0));
    const { stats, baseline } = summarizeStats(report(2000, 1_000, 5, 0), first.baseline);
    expect(stats.bitrate).toBeUndefined();
    expect(baseline?.bytesReceived).toBe(1_000);
  });

  it('gives only the RTT without a video stream', () => {
    const r = new Map([
      ['T01', { id: 'T01', type: 'transport', timestamp: 5, selectedCandidatePairId: 'CP1' }],
      ['CP1', { id: 'CP1', type: 'candidate-pair', timestamp: 5, currentRoundTripTime: 0.002 }],
    ]) as unknown as RTCStatsReport;
    const { stats, baseline } = summarizeStats(r);
    expect(stats.roundTripTimeMs).toBe(2);
    expect(stats.width).toBeUndefined();
    expect(baseline).toBeUndefined();
  });
});
