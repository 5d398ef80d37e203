import { ErrorCode } from '../src/protocol';
import { SessionService } from '../src/session/session.service';
import type { ChildProcess } from 'node:child_process';
import { RtpSource } from '../src/media/sources/rtp.source';
import { killChild, spawnRtpAvSender } from '../src/media/sources/testing/helpers';
import { appPerTest, sessionClosed, startApp, TestApp } from './helpers/app';
import { countOwnUdpSockets, waitForUdpSocketsAtMost } from './helpers/udp-sockets';
import { sleep, until } from './helpers/wait';
import { WeriftViewer, ok, request } from './helpers/werift-viewer';

/**
 * Sessions in two media worker threads (src/workers), whatever MEDIA_WORKERS says: placement,
 * the data channel both ways through SessionService, stop/resume, close, caps, and a worker that
 * dies (only its sessions end, with media-worker-failed; a new worker takes new sessions).
 */
describe('media workers (mediaWorkers: 2)', () => {
  const fx = appPerTest<WeriftViewer>({ session: { mediaWorkers: 2, maxSessions: 3 }, streaming: { metrics: { enabled: true } } });
  const sessions = () => fx.t.app.get(SessionService);

  async function viewer(mode: 'client' | 'server' = 'client'): Promise<WeriftViewer> {
    const v = new WeriftViewer(await fx.t.connect());
    fx.viewers.push(v);
    if (mode === 'client') await v.startWithOffer();
    else await v.startWithServerOffer();
    await v.waitForState('streaming');
    await v.waitForPackets(10);
    return v;
  }

  /** Which worker hosts a session (by the pool's per-worker session count before and after). */
  function workerOf(id: string): number {
    const s = sessions().list().find((x) => x.id === id) as unknown as { worker?: { index: number } };
    return s.worker!.index;
  }

  it('places sessions on the least-loaded worker; each streams from its first keyframe, data channel both ways', async () => {
    const a = await viewer('client');
    const b = await viewer('server');
    expect(new Set([workerOf(a.sessionId), workerOf(b.sessionId)])).toEqual(new Set([0, 1]));
    expect(sessions().mediaWorkers().map((w) => w.sessions)).toEqual([1, 1]);
    // The first frame came at once: the source's cached group of pictures, through the ring.
    expect(a.keyframes).toBeGreaterThan(0);
    expect(b.keyframes).toBeGreaterThan(0);
    // Client -> server through SessionService's events, and the ping echo in the worker.
    const got = new Promise<string>((resolve) =>
      sessions().events.on('message', (_owner, e) => {
        if (e.sessionId === a.sessionId) resolve(e.data);
      }),
    );
    await a.waitForChannelOpen();
    a.channel!.send('hello server');
    expect(await got).toBe('hello server');
    expect(await a.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    // Server -> client: send and broadcast.
    await until('the channel is open on the server side', () => sessions().send(b.sessionId, 'to b'));
    await until('b got it', () => b.messages.includes('to b'));
    expect(sessions().broadcast(sessions().summary(a.sessionId)!.source, 'to all')).toBe(2);
    await until('both got the broadcast', () => a.messages.includes('to all') && b.messages.includes('to all'));
    // Summaries carry the worker's counters.
    await until('summaries show packets sent', () => sessions().summaries().every((s) => (s.senders[0]?.packets ?? 0) > 0));
    expect(sessions().summaries().map((s) => s.connection)).toEqual(['connected', 'connected']);
    // Viewers of the source counted over both workers.
    expect(sessions().listSources()[0].viewers).toBe(2);
  });

  it('stop-video keeps the data channel; resume brings a keyframe at once; close releases the sockets', async () => {
    const before = countOwnUdpSockets();
    const v = await viewer('client');
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    expect(v.state).toBe('data-only');
    expect(await v.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
    const keyframes = v.keyframes;
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
    expect(v.state).toBe('streaming');
    await v.waitForPackets(v.packets + 10);
    expect(v.keyframes).toBeGreaterThan(keyframes);
    const closed = sessionClosed(sessions(), v.sessionId);
    await ok(v.socket, 'session:close', { sessionId: v.sessionId });
    expect((await closed).reason).toBe('client-closed');
    await v.close();
    await waitForUdpSocketsAtMost(before, 10_000);
    expect(sessions().count).toBe(0);
  });

  it('caps hold across workers: maxSessions 3 over two workers refuses the fourth', async () => {
    await Promise.all([viewer(), viewer(), viewer()]);
    const s = await fx.t.connect();
    const res = await request(s, 'session:start', {});
    expect(res).toMatchObject({ ok: false, error: { code: ErrorCode.CAPACITY_EXCEEDED } });
    expect(sessions().mediaWorkers().reduce((n, w) => n + w.sessions, 0)).toBe(3);
  });

  for (const how of ['throw', 'exit'] as const) {
    it(`a worker that dies (${how}) closes only its sessions (media-worker-failed); the others stream on; a new worker takes new sessions`, async () => {
      const a = await viewer();
      const b = await viewer();
      const wa = workerOf(a.sessionId);
      expect(workerOf(b.sessionId)).not.toBe(wa);
      // b's packets, watched for a gap while a's worker dies.
      let last = performance.now();
      let seen = b.packets;
      let gap = 0;
      const watch = setInterval(() => {
        const now = performance.now();
        if (b.packets !== seen) {
          gap = Math.max(gap, now - last);
          last = now;
          seen = b.packets;
        }
      }, 20);
      const closed = sessionClosed(sessions(), a.sessionId);
      sessions().workerPool!.crashWorker(wa, how);
      expect((await closed).reason).toBe('media-worker-failed');
      expect((await a.waitForState('closed')).reason).toBe('media-worker-failed');
      await until('the worker is back', () => sessions().mediaWorkers()[wa].ready, 30_000);
      expect(sessions().mediaWorkers()[wa].restarts).toBe(1);
      // Readiness and the metrics see every worker.
      expect((await fetch(`${fx.t.url}/health/ready`)).status).toBe(200);
      const metrics = await (await fetch(`${fx.t.url}/metrics`)).text();
      expect(metrics).toContain(`streaming_media_worker_restarts{worker="${wa}"} 1`);
      expect(metrics).toMatch(/streaming_media_worker_up\{worker="0"\} 1/);
      expect(metrics).toMatch(/streaming_media_worker_up\{worker="1"\} 1/);
      await b.waitForPackets(b.packets + 50);
      clearInterval(watch);
      expect(gap).toBeLessThan(1000);
      expect(b.state).toBe('streaming');
      expect(await b.roundTrip('ping', (m) => m === 'pong')).toBe('pong');
      // The next session goes to the new worker (the least loaded) and streams.
      const c = await viewer();
      expect(workerOf(c.sessionId)).toBe(wa);
      expect(c.keyframes).toBeGreaterThan(0);
      expect(sessions().count).toBe(2);
    }, 90_000);
  }
});

/** A source with sound: its audio crosses to the workers through a second ring (worker-pool.ts). */
describe('media workers with an audio source (mediaWorkers: 2)', () => {
  let t: TestApp;
  let source: RtpSource;
  let sender: ChildProcess | undefined;
  const viewers: WeriftViewer[] = [];

  beforeEach(async () => {
    source = new RtpSource({ id: 'av', codec: 'VP8', port: 0, audio: { port: 0 } });
    t = await startApp({ source, session: { mediaWorkers: 2 } });
    sender = spawnRtpAvSender({ videoPort: source.port, audioPort: source.audioPort!, codec: 'VP8' });
  });
  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await killChild(sender);
    sender = undefined;
    await t.close();
  });

  it('sessions on both workers get audio and video in one stream; kind audio stops and resumes only the audio', async () => {
    const sessions = t.app.get(SessionService);
    const start = async (mode: 'client' | 'data-first') => {
      const v = new WeriftViewer(await t.connect());
      viewers.push(v);
      if (mode === 'client') await v.startWithOffer(undefined, { audio: true });
      else await v.startDataFirst();
      await v.waitForState('streaming', 15_000);
      await v.waitForAudioPackets(10, 15_000);
      await v.waitForPackets(10, 15_000);
      return v;
    };
    const a = await start('client');
    const b = await start('data-first');
    expect(sessions.mediaWorkers().map((w) => w.sessions)).toEqual([1, 1]);
    for (const v of [a, b]) {
      const msids = [...v.pc.remoteDescription!.sdp.matchAll(/^a=msid:(\S+) /gm)].map((m) => m[1]);
      expect(msids.length).toBe(2);
      expect(new Set(msids).size).toBe(1);
    }
    await until('summaries say the audio is live', () => sessions.summaries().every((s) => s.audio === 'live'));
    // Viewers are video feeds, as on one thread (an audio feed holds the source but is no second viewer).
    await until('two viewers', () => sessions.listSources()[0].viewers === 2);
    await sleep(200);
    expect(sessions.listSources()[0].viewers).toBe(2);
    await ok(b.socket, 'session:stop-video', { sessionId: b.sessionId, kind: 'audio' });
    expect(b.state).toBe('streaming');
    expect(sessions.summary(b.sessionId)!.audio).toBe('stopped');
    await sleep(300);
    const heard = b.audioPackets;
    const seen = b.packets;
    await sleep(600);
    expect(b.audioPackets - heard).toBeLessThan(3);
    expect(b.packets - seen).toBeGreaterThan(5);
    await ok(b.socket, 'session:resume-video', { sessionId: b.sessionId, kind: 'audio' });
    await b.waitForAudioPackets(b.audioPackets + 10);
    await a.waitForAudioPackets(a.audioPackets + 10);
  });
});
