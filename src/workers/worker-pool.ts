import { Logger, LogLevel } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RTCRtpCodecParameters, RtpPacket } from 'werift';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode } from '../protocol';
import type { MediaSource, SourceState, SourceTrack } from '../media/media-source';
import type { SessionCallbacks } from '../session/session';
import type { SessionOptions } from '../session/session.options';
import type { DtlsCertificatePem } from '../werift/certificate';
import { FILTER_RESULT, FILTER_STATE, FromWorker, ToWorker, WorkerSessionOptions } from './messages';
import { AUDIO_RING, PacketRingWriter, createRingBuffer } from './packet-ring';
import { leastLoaded, splitPortRange } from './placement';
import { RemoteSession } from './remote-session';
import { WorkerSlot } from './worker-slot';
import type { MediaWorkerStatus } from './worker-slot';
import { codecFieldsOf } from './worker-source';

/** A worker that died is started again after this long (a worker that dies at once is not restarted in a tight loop). */
const RESTART_DELAY_MS = 200;

export type { MediaWorkerStatus } from './worker-slot';

/** One source's ring and what keeps it fed (the publish tap, and the demand track for on-demand sources). */
interface SourceFeed {
  source: MediaSource;
  ring: SharedArrayBuffer;
  writer: PacketRingWriter;
  /** A source with sound: its audio's ring (a second ring, so the video's slots and keyframe position stay as they were). */
  audio?: { ring: SharedArrayBuffer; writer: PacketRingWriter };
  untap: () => void;
  offState: () => void;
  /** Held while some worker has a feed of this source: the main thread's demand on it. */
  holder?: SourceTrack;
  /** Feeds of this source over every worker, video and audio (what holds the source). */
  feeds: number;
  /** Video feeds of this source over every worker: its viewers, as `MediaSource.viewers` counts them. */
  viewers: number;
}

/**
 * The main thread's side of the media workers (`mediaWorkers` > 0): starts the workers, places
 * each new session on the least-loaded one, writes each source's packets once into its shared
 * ring, answers the workers' requests (keyframes, demand, the pair filter), and when a worker
 * dies ends only its sessions (`media-worker-failed`) and starts another in its slot.
 */
export class MediaWorkerPool {
  private readonly log = new Logger('MediaWorkers');
  private readonly slots: WorkerSlot[];
  private readonly feeds = new Map<string, SourceFeed>();
  private closing = false;
  private nextRefresh = 1;
  private readonly refreshes = new Map<number, { left: Set<WorkerSlot>; done(): void }>();

  constructor(
    count: number,
    private readonly options: SessionOptions,
    private readonly logLevels?: LogLevel[],
  ) {
    const ranges = splitPortRange(options.portRange, count);
    this.slots = ranges.map((r, i) => new WorkerSlot(i, r));
    for (const slot of this.slots) this.startWorker(slot);
  }

  /** Every worker's state (readiness, sessions, restarts). */
  status(): MediaWorkerStatus[] {
    return this.slots.map((s) => ({ index: s.index, ready: s.ready, sessions: s.sessions.size, restarts: s.restarts }));
  }

  /** Resolves once every worker has started (a test, or a service that wants them warm). */
  async whenReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.slots.some((s) => !s.ready)) {
      if (Date.now() > deadline) throw new Error('media workers did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Every worker's sessions' snapshots, fresh (resolves after at most `timeoutMs`). */
  refresh(timeoutMs = 1000): Promise<void> {
    const left = new Set(this.slots.filter((s) => s.ready && s.sessions.size > 0));
    if (left.size === 0) return Promise.resolve();
    const reqId = this.nextRefresh++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      const refreshes = this.refreshes;
      function finish(): void {
        clearTimeout(timer);
        refreshes.delete(reqId);
        resolve();
      }
      this.refreshes.set(reqId, { left, done: finish });
      for (const slot of left) slot.send({ t: 'snapshots', reqId });
    });
  }

  /** Feeds of a source over every worker (its viewers: the source itself sees only the pool's one). */
  feedsOf(sourceId: string): number {
    return this.feeds.get(sourceId)?.viewers ?? 0;
  }

  /** Resolves when some worker takes sessions (at once, unless every one is restarting), or after `timeoutMs`. */
  async whenAnyReady(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.slots.some((s) => s.ready) && Date.now() < deadline && !this.closing) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * A new session on the least-loaded worker; the `create` call is queued on the worker's port
   * before any other call of the session, so the returned handle may be used at once.
   */
  create(args: {
    id: string;
    ownerId: string;
    source: MediaSource;
    codec: RTCRtpCodecParameters;
    renegotiation: boolean;
    callbacks: SessionCallbacks;
    /** The process's DTLS certificate, which the worker adopts. */
    certificate?: DtlsCertificatePem;
  }): RemoteSession | undefined {
    const i = leastLoaded(this.slots.map((s) => ({ ready: s.ready, sessions: s.sessions.size })));
    if (i === -1) return undefined;
    const slot = this.slots[i];
    this.feedSource(slot, args.source);
    const session = new RemoteSession(args.id, args.ownerId, args.source, slot, {
      ...args.callbacks,
      closed: (reason) => {
        slot.sessions.delete(args.id);
        args.callbacks.closed(reason);
      },
    });
    session.renegotiation = args.renegotiation;
    slot.sessions.set(args.id, session);
    void slot
      .call(args.id, { op: 'create', ownerId: args.ownerId, sourceId: args.source.id, codec: codecFieldsOf(args.codec), renegotiation: args.renegotiation, certificate: args.certificate })
      .catch((err: Error) => session.createFailed(err)); // the next call (the negotiation) reports it
    return session;
  }

  /** Tests only: makes a worker die as a crash would (`exit`: process.exit in it; `throw`: an uncaught error). */
  crashWorker(index: number, how: 'exit' | 'throw' = 'throw'): void {
    this.slots[index]?.post({ t: 'crash', how });
  }

  /** Closes every worker's sessions' connections and ends the workers (after the service drained). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.all(this.slots.map((slot) => this.stopWorker(slot)));
    for (const feed of this.feeds.values()) {
      feed.untap();
      feed.offState();
      feed.holder?.stop('session-closed');
    }
    this.feeds.clear();
  }

  // --- internals ---------------------------------------------------------------------

  private startWorker(slot: WorkerSlot): void {
    const js = join(__dirname, 'media-worker.js');
    const entry = existsSync(js) ? js : join(__dirname, 'media-worker.ts');
    // From the TypeScript sources (jest), the worker transpiles them itself (see ts-worker-loader.js).
    const file = entry.endsWith('.ts') ? join(__dirname, 'ts-worker-loader.js') : entry;
    const worker = new Worker(file, { workerData: { entry, logLevels: this.logLevels } });
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
    worker.on('error', (err) => this.log.error(`media worker ${slot.index} failed: ${err.stack ?? err.message}`));
    worker.on('exit', (code) => this.onExit(slot, worker, code));
    const { remoteAddressFilter, ...rest } = this.options;
    const options: WorkerSessionOptions = { ...rest, portRange: slot.portRange, hasRemoteFilter: remoteAddressFilter !== undefined };
    slot.send({ t: 'init', index: slot.index, options, filter: slot.filterCell.buffer as SharedArrayBuffer });
    for (const id of slot.sources) {
      const feed = this.feeds.get(id);
      if (feed) slot.send({ t: 'source', source: this.describe(feed) });
    }
  }

  private async stopWorker(slot: WorkerSlot): Promise<void> {
    const worker = slot.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      const done = (m: FromWorker) => {
        if (m.t !== 'shutdown-done') return;
        clearTimeout(timer);
        resolve();
      };
      worker.on('message', done);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      slot.send({ t: 'shutdown' });
    });
    slot.worker = undefined;
    slot.ready = false;
    await worker.terminate();
  }

  private onExit(slot: WorkerSlot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    for (const p of slot.pending.values()) p.reject(new StreamingError(ErrorCode.INTERNAL, 'the media worker failed'));
    slot.pending.clear();
    for (const r of this.refreshes.values()) {
      r.left.delete(slot);
      if (r.left.size === 0) r.done();
    }
    // Its feeds are gone with it.
    for (const [sourceId, n] of slot.demand) {
      if (n.video) this.changeDemand(sourceId, -n.video, 'video');
      if (n.audio) this.changeDemand(sourceId, -n.audio, 'audio');
    }
    slot.demand.clear();
    if (this.closing) return;
    this.log.error(`media worker ${slot.index} exited (code ${code}): closing its ${slot.sessions.size} session(s), starting another`);
    for (const s of [...slot.sessions.values()]) s.workerFailed();
    slot.sessions.clear();
    slot.restarts++;
    setTimeout(() => {
      if (!this.closing) this.startWorker(slot);
    }, RESTART_DELAY_MS).unref();
  }

  private onMessage(slot: WorkerSlot, m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        slot.ready = true;
        return;
      case 'reply': {
        const p = slot.pending.get(m.callId);
        if (!p) return;
        slot.pending.delete(m.callId);
        if (m.snapshot) p.session?.snapshot(m.snapshot);
        if (m.ok) return p.resolve(m.value);
        const e = m.error;
        return p.reject('code' in e ? new StreamingError(e.code, e.message) : new Error(e.internal));
      }
      case 'event':
        return slot.sessions.get(m.sessionId)?.event(m);
      case 'snapshot':
        return slot.sessions.get(m.sessionId)?.snapshot(m.snapshot);
      case 'demand': {
        const n = slot.demand.get(m.sourceId) ?? { video: 0, audio: 0 };
        n[m.kind] += m.delta;
        slot.demand.set(m.sourceId, n);
        return this.changeDemand(m.sourceId, m.delta, m.kind);
      }
      case 'keyframe': {
        const feed = this.feeds.get(m.sourceId);
        if (feed) slot.send({ t: 'keyframe-answer', id: m.sourceId, can: feed.source.requestKeyframe() });
        return;
      }
      case 'filter': {
        const filter = this.options.remoteAddressFilter;
        let pass = false;
        try {
          pass = filter ? filter(m.address) : true;
        } catch (err) {
          this.log.warn(`remoteAddressFilter threw: ${(err as Error).message}`);
        }
        Atomics.store(slot.filterCell, FILTER_RESULT, pass ? 1 : 0);
        Atomics.store(slot.filterCell, FILTER_STATE, 1);
        Atomics.notify(slot.filterCell, FILTER_STATE);
        return;
      }
      case 'snapshots-done': {
        const r = this.refreshes.get(m.reqId);
        r?.left.delete(slot);
        if (r && r.left.size === 0) r.done();
        return;
      }
      case 'shutdown-done':
        return;
    }
  }

  /** The source's ring, made and tapped on its first session; sent to the worker once. */
  private feedSource(slot: WorkerSlot, source: MediaSource): void {
    let feed = this.feeds.get(source.id);
    if (!feed || feed.source !== source) {
      feed?.untap();
      feed?.offState();
      const ring = createRingBuffer();
      const writer = new PacketRingWriter(ring);
      const audioRing = source.hasAudio ? createRingBuffer(AUDIO_RING) : undefined;
      const audio = audioRing && { ring: audioRing, writer: new PacketRingWriter(audioRing) };
      const f: SourceFeed = { source, ring, writer, audio, feeds: 0, viewers: 0, untap: () => undefined, offState: () => undefined };
      f.untap = source.addPublishTap({
        packet: (packet, keyframe) => {
          if (!writer.write(packet.serialize(), keyframe)) this.log.warn(`source ${source.id}: a packet too large for the ring was dropped`);
        },
        // Written whether or not any worker listens (as the video): a feed that starts reads from the live end.
        ...(audio ? { audio: (packet: RtpPacket) => void audio.writer.write(packet.serialize(), false) } : {}),
        ended: (reason) => this.broadcast(source.id, { t: 'source-ended', id: source.id, reason }),
      });
      const onState = (state: SourceState) => {
        if (state === 'idle') writer.forgetKeyframe();
        this.broadcast(source.id, { t: 'source-state', id: source.id, state });
      };
      source.events.on('state', onState);
      f.offState = () => source.events.off('state', onState);
      this.feeds.set(source.id, (feed = f));
      for (const s of this.slots) s.sources.delete(source.id);
    }
    if (!slot.sources.has(source.id)) {
      slot.sources.add(source.id);
      slot.send({ t: 'source', source: this.describe(feed) });
    }
  }

  private describe(feed: SourceFeed) {
    const s = feed.source;
    return {
      id: s.id,
      kind: s.kind,
      codec: s.codec,
      state: s.currentState,
      codecParameters: codecFieldsOf(s.codecParameters()),
      ring: feed.ring,
      ...(feed.audio && s.audioCodec ? { audio: { codec: s.audioCodec, ring: feed.audio.ring } } : {}),
    };
  }

  private broadcast(sourceId: string, m: ToWorker): void {
    for (const slot of this.slots) if (slot.sources.has(sourceId)) slot.send(m);
  }

  /**
   * Feeds started or ended on a worker. The main thread holds one subscription of the source
   * while any worker has a feed, so an on-demand source runs exactly while watched somewhere.
   */
  private changeDemand(sourceId: string, delta: number, kind: 'video' | 'audio'): void {
    const feed = this.feeds.get(sourceId);
    if (!feed) return;
    feed.feeds = Math.max(0, feed.feeds + delta);
    if (kind === 'video') feed.viewers = Math.max(0, feed.viewers + delta);
    if (feed.feeds > 0 && !feed.holder) {
      feed.holder = feed.source.subscribe(() => undefined);
      // The source ended it (it ended): the tap passes that on; nothing to hold any more.
      feed.holder.once('ended', () => {
        if (feed.holder?.ended) feed.holder = undefined;
      });
    } else if (feed.feeds === 0 && feed.holder) {
      const h = feed.holder;
      feed.holder = undefined;
      h.stop('session-closed');
    }
  }
}
