/**
 * A viewer's receive statistics, summarised from the browser's `getStats()` report: the
 * figures a page shows (resolution, frame rate, bitrate, round-trip time, packet loss,
 * jitter-buffer delay), with the raw report beside them for anything else.
 */

/** One sample of a session's receive statistics. Figures the browser did not report are absent. */
export interface ViewerStats {
  /** When the sample was taken (`performance.now()` time base of the report, ms). */
  timestamp: number;
  /** Decoded picture size. */
  width?: number;
  height?: number;
  /** Frames decoded per second, as the browser reports it. */
  framesPerSecond?: number;
  framesDecoded?: number;
  framesDropped?: number;
  /** Video payload received so far (bytes, RTP payload and padding). */
  bytesReceived?: number;
  /** Receive bitrate since the previous sample of this session (bits/s); absent on the first. */
  bitrate?: number;
  packetsReceived?: number;
  /** Packets lost so far (RTP sequence gaps not recovered). */
  packetsLost?: number;
  /** packetsLost / (packetsReceived + packetsLost) since the previous sample, 0..1; absent on the first. */
  packetLossRatio?: number;
  /** Round-trip time of the selected ICE candidate pair (ms). */
  roundTripTimeMs?: number;
  /** Inter-arrival jitter (ms). */
  jitterMs?: number;
  /** Average time a frame waited in the jitter buffer (ms): jitterBufferDelay / jitterBufferEmittedCount. */
  jitterBufferDelayMs?: number;
  /** The negotiated video codec, e.g. `video/VP8`. */
  codec?: string;
  /** Audio (a source with sound): packets received, and the level of the last samples (0..1; 0 while muted at the source). */
  audio?: { packetsReceived?: number; packetsLost?: number; audioLevel?: number; jitterMs?: number };
  /** The browser's full report, for what the summary leaves out. */
  report: RTCStatsReport;
}

/** What a summary keeps from the previous sample, to turn counters into rates. */
export interface StatsBaseline {
  timestamp: number;
  bytesReceived: number;
  packetsReceived: number;
  packetsLost: number;
}

type Entry = Record<string, unknown> & { id: string; type: string };
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Summarises a report; `previous` (the baseline of the last sample) gives the rates. */
export function summarizeStats(report: RTCStatsReport, previous?: StatsBaseline): { stats: ViewerStats; baseline?: StatsBaseline } {
  const entries = [...(report as unknown as Map<string, Entry>).values()];
  const byId = new Map(entries.map((e) => [e.id, e]));
  const video = entries.find((e) => e.type === 'inbound-rtp' && (e.kind ?? e.mediaType) === 'video');
  const transport = entries.find((e) => e.type === 'transport');
  const pair =
    byId.get(String(transport?.selectedCandidatePairId)) ??
    entries.find((e) => e.type === 'candidate-pair' && (e.selected === true || (e.nominated === true && e.state === 'succeeded')));
  const rtt = num(pair?.currentRoundTripTime);
  const stats: ViewerStats = { timestamp: num(video?.timestamp) ?? performance.now(), report };
  const audio = entries
    .filter((e) => e.type === 'inbound-rtp' && (e.kind ?? e.mediaType) === 'audio')
    .sort((a, b) => (num(b.packetsReceived) ?? 0) - (num(a.packetsReceived) ?? 0))[0];
  if (audio) {
    const jitter = num(audio.jitter);
    stats.audio = {
      packetsReceived: num(audio.packetsReceived),
      packetsLost: num(audio.packetsLost),
      audioLevel: num(audio.audioLevel),
      ...(jitter !== undefined ? { jitterMs: jitter * 1000 } : {}),
    };
  }
  if (rtt !== undefined) stats.roundTripTimeMs = rtt * 1000;
  if (!video) return { stats };

  stats.width = num(video.frameWidth);
  stats.height = num(video.frameHeight);
  stats.framesPerSecond = num(video.framesPerSecond);
  stats.framesDecoded = num(video.framesDecoded);
  stats.framesDropped = num(video.framesDropped);
  stats.bytesReceived = num(video.bytesReceived);
  stats.packetsReceived = num(video.packetsReceived);
  stats.packetsLost = num(video.packetsLost);
  const jitter = num(video.jitter);
  if (jitter !== undefined) stats.jitterMs = jitter * 1000;
  const delay = num(video.jitterBufferDelay);
  const emitted = num(video.jitterBufferEmittedCount);
  if (delay !== undefined && emitted) stats.jitterBufferDelayMs = (delay / emitted) * 1000;
  const codec = byId.get(String(video.codecId));
  if (typeof codec?.mimeType === 'string') stats.codec = codec.mimeType;
  for (const k of Object.keys(stats) as (keyof ViewerStats)[]) if (stats[k] === undefined) delete stats[k];

  const baseline: StatsBaseline = {
    timestamp: stats.timestamp,
    bytesReceived: stats.bytesReceived ?? 0,
    packetsReceived: stats.packetsReceived ?? 0,
    packetsLost: stats.packetsLost ?? 0,
  };
  // A new inbound stream (a resumed video, a restarted session) starts its counters again.
  if (previous && baseline.timestamp > previous.timestamp && baseline.bytesReceived >= previous.bytesReceived) {
    stats.bitrate = ((baseline.bytesReceived - previous.bytesReceived) * 8 * 1000) / (baseline.timestamp - previous.timestamp);
    const received = baseline.packetsReceived - previous.packetsReceived;
    const lost = Math.max(0, baseline.packetsLost - previous.packetsLost);
    stats.packetLossRatio = received + lost > 0 ? lost / (received + lost) : 0;
  }
  return { stats, baseline };
}
