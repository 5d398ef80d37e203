import { Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { MediaSource } from '../media/media-source';
import { MediaSourceRegistry } from '../media/source-registry';
import type { ErrorCode, SessionStateEvent } from '../protocol';
import { SessionService } from '../session/session.service';
import type { LeanCounters, SenderCounters, SessionSummary } from '../session/session-view';
import { MetricsOptions } from './metrics.options';
import { transportOf } from './session-stats';

const SESSION_STATES = ['connecting', 'streaming', 'data-only'] as const;
const SOURCE_STATES = ['idle', 'starting', 'live', 'offline', 'stopped'] as const;
/** How often the input bitrate is sampled, and over how many samples it is averaged. */
const BITRATE_SAMPLE_MS = 1000;
const BITRATE_WINDOW = 5;
/** A session whose first packet has not gone after this long is not waited for any more. */
const FIRST_PACKET_GIVE_UP_MS = 60_000;

/**
 * Prometheus metrics of the sessions and sources, in a registry of this module's own (an
 * embedding application may have its own default registry). Events come from
 * `SessionService.events`; RTP counters are read from werift's senders at scrape time
 * (deltas per sender, so counters never go back when a transceiver is replaced or a
 * session closes), so nothing is added to the per-packet send path.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();
  /** Sessions whose counters are read at scrape time, by id. */
  private readonly tracked = new Set<string>();
  /** Last counters seen per session and sender (transceiver order), to turn werift's totals into counter increments. */
  private readonly seen = new Map<string, SenderCounters[]>();
  private readonly seenPictureLoss = new Map<string, SessionSummary['pictureLoss']>();
  /** Sessions waiting for their first packet: when they were asked for. */
  private readonly pending = new Map<string, number>();
  private firstPacketTimer?: NodeJS.Timeout;
  private bitrateTimer?: NodeJS.Timeout;
  private readonly inputSamples = new Map<string, { t: number; bytes: number }[]>();
  /** Input bytes of each source already added to the counter. */
  private readonly inputSeen = new Map<string, number>();
  private readonly unsubscribe: (() => void)[] = [];

  private readonly started: Counter<'source' | 'transport'>;
  private readonly closed: Counter<'reason' | 'transport'>;
  private readonly failures: Counter<'code' | 'stage'>;
  private readonly packets: Counter<'source'>;
  private readonly bytes: Counter<'source'>;
  private readonly nacks: Counter<'source'>;
  private readonly retransmits: Counter<'source'>;
  private readonly plis: Counter<'source' | 'outcome'>;
  private readonly replays: Counter<'source'>;
  private readonly leanEvents: Counter<'source' | 'event'>;
  private readonly seenLean = new Map<string, LeanCounters>();
  private readonly firstPacket: Histogram;

  constructor(
    private readonly sessions: SessionService,
    private readonly defaultSource: MediaSource,
    readonly options: MetricsOptions,
    @Optional() private readonly sources?: MediaSourceRegistry,
  ) {
    const registers = [this.registry];
    const self = this;
    new Gauge({
      name: 'streaming_sessions',
      help: 'Open sessions by state',
      labelNames: ['state', 'transport'],
      registers,
      collect() {
        this.reset();
        for (const state of SESSION_STATES) for (const t of ['socket.io', 'whep']) this.set({ state, transport: t }, 0);
        for (const s of self.sessions.summaries()) this.inc({ state: s.state, transport: transportOf(s.ownerId) });
      },
    });
    new Gauge({
      name: 'streaming_source_viewers',
      help: 'Viewers currently fed by each source',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of self.allSources()) this.set({ source: s.id }, self.sessions.viewersOf(s));
      },
    });
    new Gauge({
      name: 'streaming_media_worker_sessions',
      help: 'Sessions on each media worker thread (none in single-thread mode)',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of self.sessions.mediaWorkers()) this.set({ worker: String(w.index) }, w.sessions);
      },
    });
    new Gauge({
      name: 'streaming_media_worker_up',
      help: 'Whether each media worker thread runs and takes sessions (1) or is being replaced (0)',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of self.sessions.mediaWorkers()) this.set({ worker: String(w.index) }, w.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'streaming_media_worker_restarts',
      help: 'Times each media worker thread was started again after it died',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of self.sessions.mediaWorkers()) this.set({ worker: String(w.index) }, w.restarts);
      },
    });
    new Gauge({
      name: 'streaming_source_state',
      help: 'State of each source (1 for its current state)',
      labelNames: ['source', 'state'],
      registers,
      collect() {
        this.reset();
        for (const s of self.allSources()) for (const state of SOURCE_STATES) this.set({ source: s.id, state }, s.currentState === state ? 1 : 0);
      },
    });
    new Counter({
      name: 'streaming_source_input_bytes_total',
      help: 'RTP payload bytes each source has published',
      labelNames: ['source'],
      registers,
      collect() {
        for (const s of self.allSources()) {
          const c = this.labels({ source: s.id });
          const now = s.input.bytes;
          // prom-client counters only go up: add what is new since the last scrape.
          c.inc(Math.max(0, now - (self.inputSeen.get(s.id) ?? 0)));
          self.inputSeen.set(s.id, now);
        }
      },
    });
    new Gauge({
      name: 'streaming_source_input_bitrate_bps',
      help: `Input bitrate of each source (payload bits/s over the last ${BITRATE_WINDOW} s)`,
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of self.allSources()) this.set({ source: s.id }, self.bitrateOf(s.id));
      },
    });
    this.started = new Counter({ name: 'streaming_sessions_started_total', help: 'Sessions started', labelNames: ['source', 'transport'], registers });
    this.closed = new Counter({ name: 'streaming_sessions_closed_total', help: 'Sessions closed, by reason', labelNames: ['reason', 'transport'], registers });
    this.failures = new Counter({
      name: 'streaming_negotiation_failures_total',
      help: 'Session starts refused or failed (stage start) and renegotiations that failed (stage renegotiation), by error code',
      labelNames: ['code', 'stage'],
      registers,
    });
    const atScrape = () => self.collectRtp();
    this.packets = new Counter({ name: 'streaming_rtp_packets_sent_total', help: 'RTP packets sent to viewers', labelNames: ['source'], registers, collect: atScrape });
    this.bytes = new Counter({ name: 'streaming_rtp_bytes_sent_total', help: 'RTP payload bytes sent to viewers', labelNames: ['source'], registers });
    this.nacks = new Counter({ name: 'streaming_nacks_received_total', help: 'Generic NACKs received from viewers', labelNames: ['source'], registers });
    this.retransmits = new Counter({ name: 'streaming_rtp_retransmitted_packets_total', help: 'Packets resent after a NACK', labelNames: ['source'], registers });
    this.plis = new Counter({
      name: 'streaming_plis_received_total',
      help: 'Picture-loss indications from viewers, by what they led to (source: keyframe asked; replay: cached keyframe resent; limited; ended)',
      labelNames: ['source', 'outcome'],
      registers,
    });
    this.leanEvents = new Counter({
      name: 'streaming_lean_send_events_total',
      help: 'Lean send path: packets not sent (no consent or DTLS), sends queued by the kernel, send errors, NACKs not answered (within the resend window)',
      labelNames: ['source', 'event'],
      registers,
    });
    this.replays = new Counter({ name: 'streaming_keyframe_replays_total', help: 'Cached keyframes resent to a viewer after its PLI', labelNames: ['source'], registers });
    this.firstPacket = new Histogram({
      name: 'streaming_time_to_first_packet_seconds',
      help: 'From the session:start request (or WHEP POST) to the first RTP packet sent',
      buckets: [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers,
    });
  }

  onModuleInit(): void {
    if (!this.options.enabled) return;
    if (this.options.processMetrics) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    const ev = this.sessions.events;
    const onStarted = (ownerId: string, e: { sessionId: string; source: string; requestedAt: number }) => this.onStarted(ownerId, e);
    const onFailed = (_: string, e: { code: ErrorCode }) => this.failures.inc({ code: e.code, stage: 'start' });
    const onState = (ownerId: string, e: SessionStateEvent) => this.onState(ownerId, e);
    ev.on('started', onStarted);
    ev.on('start-failed', onFailed);
    ev.on('state', onState);
    this.unsubscribe.push(() => {
      ev.off('started', onStarted);
      ev.off('start-failed', onFailed);
      ev.off('state', onState);
    });
    this.bitrateTimer = setInterval(() => this.sampleInput(), BITRATE_SAMPLE_MS).unref();
  }

  onModuleDestroy(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    clearInterval(this.bitrateTimer);
    clearInterval(this.firstPacketTimer);
    this.firstPacketTimer = undefined;
    this.pending.clear();
    this.tracked.clear();
    this.seen.clear();
    this.seenPictureLoss.clear();
  }

  /** The Prometheus text exposition. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    // With media workers: their sessions' counters as of now, not of the last snapshot.
    await this.sessions.refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  // --- internals ---------------------------------------------------------------------

  private allSources(): MediaSource[] {
    if (!this.sources) return [this.defaultSource];
    return this.sources.ids().map((id) => this.sources!.get(id)!);
  }

  private onStarted(ownerId: string, e: { sessionId: string; source: string; requestedAt: number }): void {
    const transport = transportOf(ownerId);
    this.started.inc({ source: e.source, transport });
    const session = this.sessions.summary(e.sessionId);
    if (!session || session.state === 'closed') return;
    this.tracked.add(session.id);
    this.pending.set(session.id, e.requestedAt);
    // One poll for every session waiting for its first packet, only while some are.
    this.firstPacketTimer ??= setInterval(() => this.checkFirstPackets(), 5).unref();
  }

  private onState(ownerId: string, e: SessionStateEvent): void {
    if (e.state !== 'closed') {
      // A failed renegotiation leaves the state as it was and reports why.
      if (e.reason === 'negotiation-failed') this.failures.inc({ code: 'NEGOTIATION_FAILED', stage: 'renegotiation' });
      if (e.reason === 'codec-not-supported') this.failures.inc({ code: 'CODEC_NOT_SUPPORTED', stage: 'renegotiation' });
      return;
    }
    this.closed.inc({ reason: e.reason ?? 'unknown', transport: transportOf(ownerId) });
    const session = this.tracked.has(e.sessionId) ? this.sessions.summary(e.sessionId) : undefined;
    if (session) this.collectSession(session); // its last counters
    this.tracked.delete(e.sessionId);
    this.pending.delete(e.sessionId);
    this.seen.delete(e.sessionId);
    this.seenPictureLoss.delete(e.sessionId);
    this.seenLean.delete(e.sessionId);
  }

  private checkFirstPackets(): void {
    const now = performance.now();
    for (const [id, requestedAt] of this.pending) {
      const s = this.sessions.summary(id);
      if (!s || s.state === 'closed' || now - requestedAt > FIRST_PACKET_GIVE_UP_MS) {
        this.pending.delete(id);
      } else if (s.senders.some((c) => c.packets > 0)) {
        this.firstPacket.observe((now - requestedAt) / 1000);
        this.pending.delete(id);
      }
    }
    if (this.pending.size === 0) {
      clearInterval(this.firstPacketTimer);
      this.firstPacketTimer = undefined;
    }
  }

  private collectRtp(): void {
    for (const id of this.tracked) {
      const s = this.sessions.summary(id);
      if (s) this.collectSession(s);
    }
  }

  private collectSession(session: SessionSummary): void {
    const source = { source: session.source };
    const seen = this.seen.get(session.id) ?? [];
    session.senders.forEach((now, i) => {
      const was = seen[i] ?? { packets: 0, bytes: 0, nacks: 0, retransmits: 0 };
      if (now.packets > was.packets) this.packets.inc(source, now.packets - was.packets);
      if (now.bytes > was.bytes) this.bytes.inc(source, now.bytes - was.bytes);
      if (now.nacks > was.nacks) this.nacks.inc(source, now.nacks - was.nacks);
      if (now.retransmits > was.retransmits) this.retransmits.inc(source, now.retransmits - was.retransmits);
      seen[i] = now;
    });
    this.seen.set(session.id, seen);
    const pl = session.pictureLoss;
    const was = this.seenPictureLoss.get(session.id) ?? { source: 0, replay: 0, limited: 0, ended: 0 };
    for (const outcome of Object.keys(pl) as (keyof typeof pl)[]) {
      if (pl[outcome] > was[outcome]) this.plis.inc({ ...source, outcome }, pl[outcome] - was[outcome]);
    }
    if (pl.replay > was.replay) this.replays.inc(source, pl.replay - was.replay);
    this.seenPictureLoss.set(session.id, { ...pl });
    if (session.lean) this.collectLean(session.id, source.source, session.lean);
  }

  private collectLean(id: string, source: string, now: LeanCounters): void {
    const was = this.seenLean.get(id) ?? { notSent: 0, queued: 0, sendErrors: 0, nackIgnored: 0 };
    const events: Record<keyof LeanCounters, string> = { notSent: 'not_sent', queued: 'queued', sendErrors: 'send_error', nackIgnored: 'nack_ignored' };
    for (const k of Object.keys(events) as (keyof LeanCounters)[]) {
      // A new feed (video resumed) starts its counters at 0 again.
      const delta = now[k] >= was[k] ? now[k] - was[k] : now[k];
      if (delta > 0) this.leanEvents.inc({ source, event: events[k] }, delta);
    }
    this.seenLean.set(id, { ...now });
  }

  private sampleInput(): void {
    const t = performance.now();
    for (const s of this.allSources()) {
      const samples = this.inputSamples.get(s.id) ?? [];
      samples.push({ t, bytes: s.input.bytes });
      if (samples.length > BITRATE_WINDOW + 1) samples.shift();
      this.inputSamples.set(s.id, samples);
    }
  }

  private bitrateOf(id: string): number {
    const samples = this.inputSamples.get(id);
    if (!samples || samples.length < 2) return 0;
    const first = samples[0];
    const last = samples[samples.length - 1];
    return last.t > first.t ? Math.round(((last.bytes - first.bytes) * 8 * 1000) / (last.t - first.t)) : 0;
  }
}
