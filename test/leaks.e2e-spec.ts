import type { ChildProcess } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MediaSource } from '../src/media/media-source';
import { SessionService } from '../src/session/session.service';
import { MediaSourceRegistry } from '../src/media/source-registry';
import { childPids, killChild, spawnRtspCamera } from '../src/media/sources/testing/helpers';
import { RtspRelayServer } from '../src/media/sources/testing/rtsp-test-server';
import { Session } from '../src/session/session';
import { appPerTest, startApp, TestApp } from './helpers/app';
import { countOwnUdpSockets as udpSocketCount } from './helpers/udp-sockets';
import { WeriftViewer, ok } from './helpers/werift-viewer';
import { until } from './helpers/wait';

/**
 * After 100 sessions are opened and closed (clients that simply disconnect included), the
 * process holds no more UDP sockets than before.
 *
 * The viewers are werift peers in this same process, so they are closed too: the count
 * covers both ends, and must come back to the baseline.
 */


/** Active handles and requests by type (UDPWrap, TCPSocketWrap, Timeout...). */
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}


/** A full GC (jest runs without --expose-gc). */
setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;

const TOTAL = 100;
const BATCH = 10;

const describeLinux = process.platform === 'linux' ? describe : describe.skip;

describeLinux('resource leaks', () => {
  const fx = appPerTest<WeriftViewer>();
  const { viewers } = fx;

  it(`${TOTAL} sessions opened and closed leave no UDP socket, handle, session, subscriber or listener behind`, async () => {
    const sessions = fx.t.app.get(SessionService);
    const source = fx.t.app.get(MediaSource);
    const listeners = () => ['candidate', 'offer', 'state', 'message'].map((e) => sessions.events.listenerCount(e as 'state'));
    const baseline = {
      udp: udpSocketCount(),
      handles: resources(),
      listeners: listeners(),
      viewers: source.viewers,
    };
    let peakUdp = baseline.udp;
    /** Each session's lean sender, through its counters (owned by the sender alone). */
    const leanSenders: WeakRef<object>[] = [];
    const ended = { closed: 0, disconnected: 0, clientOffer: 0, serverOffer: 0 };

    async function one(n: number): Promise<void> {
      const socket = await fx.t.connect();
      const v = new WeriftViewer(socket);
      viewers.push(v);
      const clientOffers = n % 2 === 0;
      if (clientOffers) await v.startWithOffer();
      else await v.startWithServerOffer();
      await v.waitForState('streaming');
      await v.waitForPackets(1);
      peakUdp = Math.max(peakUdp, udpSocketCount());
      // The video came through the lean send path (the default); its sender must be freed later.
      const session = sessions.list().find((s) => s.id === v.sessionId);
      const stats = session?.leanStats;
      expect(stats?.sent).toBeGreaterThan(0);
      leanSenders.push(new WeakRef(stats!));
      // Of each offer kind, half end with session:close, half by simply disconnecting.
      if (Math.floor(n / 2) % 2 === 0) {
        await ok(socket, 'session:close', { sessionId: v.sessionId });
        expect((await v.waitForState('closed')).reason).toBe('client-closed');
        ended.closed++;
        socket.disconnect();
      } else {
        socket.disconnect();
        ended.disconnected++;
      }
      if (clientOffers) ended.clientOffer++;
      else ended.serverOffer++;
      await v.close();
      viewers.splice(viewers.indexOf(v), 1);
    }

    for (let b = 0; b < TOTAL; b += BATCH) {
      await Promise.all(Array.from({ length: BATCH }, (_, i) => one(b + i)));
    }
    expect(ended).toEqual({ closed: TOTAL / 2, disconnected: TOTAL / 2, clientOffer: TOTAL / 2, serverOffer: TOTAL / 2 });
    // Sessions were really open at once (each holds UDP sockets on both ends).
    expect(peakUdp).toBeGreaterThan(baseline.udp + BATCH);

    await until(() => `every session is gone (count ${sessions.count})`, () => sessions.count === 0, 20_000);
    // werift closes its sockets asynchronously: poll with a deadline.
    await until(() => `UDP sockets are back to ${baseline.udp} (now ${udpSocketCount()})`, () => udpSocketCount() <= baseline.udp, 30_000);
    expect(udpSocketCount()).toBeLessThanOrEqual(baseline.udp);
    // Handles too: UDP and TCP (socket.io) sockets and timers. Some of werift's timers
    // outlive a closed connection by about ten seconds, hence the long deadline.
    const KINDS = ['UDPWrap', 'TCPSocketWrap', 'Timeout'];
    const grown = () => {
      const now = resources();
      return KINDS.filter((k) => (now[k] ?? 0) > (baseline.handles[k] ?? 0)).map(
        (k) => `${k} ${baseline.handles[k] ?? 0} -> ${now[k]}`,
      );
    };
    await until(() => `handles are back to the baseline (${grown().join(', ')})`, () => grown().length === 0, 30_000);
    expect(source.viewers).toBe(baseline.viewers);
    expect(listeners()).toEqual(baseline.listeners);
    // No lean sender (its output buffers, keystream, NACK map) is still reachable.
    expect(leanSenders).toHaveLength(TOTAL);
    await until(
      () => `every lean sender is collected (${leanSenders.filter((r) => r.deref()).length} still reachable)`,
      () => {
        fullGc();
        return leanSenders.every((r) => r.deref() === undefined);
      },
      15_000,
    );
  }, 180_000);
});

describeLinux('resource leaks with audio', () => {
  let relay: RtspRelayServer;
  let camera: ChildProcess | undefined;
  let t: TestApp | undefined;
  const viewers: WeriftViewer[] = [];

  beforeEach(async () => {
    relay = new RtspRelayServer();
    await relay.listen();
  });
  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await t?.close();
    t = undefined;
    await killChild(camera);
    await relay.close();
  });

  const SESSIONS = 20;

  it(`${SESSIONS} sessions of an on-demand RTSP camera with audio (stopped, resumed, closed) leave no ffmpeg, socket, handle or sender behind`, async () => {
    camera = spawnRtspCamera(relay.url('cam'), 'aac', 'VP8');
    await until('the camera publishing', () => relay.publishing('cam'), 20_000);
    const cameraPid = camera.pid!;
    const baseline = { udp: udpSocketCount(), handles: resources(), ffmpeg: childPids('ffmpeg') };
    expect(baseline.ffmpeg).toEqual([cameraPid]);
    t = await startApp({
      streaming: { sources: [{ id: 'cam', kind: 'rtsp', url: relay.url('cam'), codec: 'VP8', audio: true, onDemand: true, lingerMs: 1500 }] },
    });
    const sessions = t.app.get(SessionService);
    const source = t.app.get(MediaSourceRegistry).get('cam')!;
    const senders: WeakRef<object>[] = [];

    async function one(n: number): Promise<void> {
      const socket = await t!.connect();
      const v = new WeriftViewer(socket);
      viewers.push(v);
      if (n % 3 === 0) await v.startWithOffer('cam', { audio: true });
      else if (n % 3 === 1) await v.startDataFirst('cam');
      else await v.startWithServerOffer('cam');
      await v.waitForState('streaming', 20_000);
      await v.waitForAudioPackets(5, 20_000);
      const session = sessions.list().find((s) => s.id === v.sessionId)!;
      senders.push(new WeakRef((session as Session).leanAudioStats!));
      if (n % 2 === 0) {
        await ok(socket, 'session:stop-video', { sessionId: v.sessionId });
        await ok(socket, 'session:resume-video', { sessionId: v.sessionId, kind: 'audio' });
        await v.waitForAudioPackets(v.audioPackets + 5);
      }
      if (n % 4 < 2) await ok(socket, 'session:close', { sessionId: v.sessionId });
      socket.disconnect();
      await v.close();
      viewers.splice(viewers.indexOf(v), 1);
    }
    for (let b = 0; b < SESSIONS; b += 5) await Promise.all(Array.from({ length: 5 }, (_, i) => one(b + i)));

    await until(() => `every session is gone (count ${sessions.count})`, () => sessions.count === 0, 20_000);
    // With media workers the main thread's hold on the source ends when the workers report their feeds ended.
    await until(() => `the source has no viewer (${source.viewers}, audio ${source.audioListeners})`, () => source.viewers === 0, 10_000);
    expect(source.viewers).toBe(0);
    expect(source.audioListeners).toBe(0);
    // On demand: the source's ffmpeg stops after the linger time; only the camera's is left.
    await until(() => `the source's ffmpeg stopped (${childPids('ffmpeg').join(', ')})`, () => childPids('ffmpeg').length === 1, 15_000);
    expect(childPids('ffmpeg')).toEqual([cameraPid]);
    await t.close();
    t = undefined;
    await until(() => `UDP sockets are back to ${baseline.udp} (now ${udpSocketCount()})`, () => udpSocketCount() <= baseline.udp, 30_000);
    const KINDS = ['UDPWrap', 'Timeout'];
    const grown = () => {
      const now = resources();
      return KINDS.filter((k) => (now[k] ?? 0) > (baseline.handles[k] ?? 0)).map((k) => `${k} ${baseline.handles[k] ?? 0} -> ${now[k]}`);
    };
    await until(() => `handles are back to the baseline (${grown().join(', ')})`, () => grown().length === 0, 30_000);
    expect(senders).toHaveLength(SESSIONS);
    await until(
      () => `every audio lean sender is collected (${senders.filter((r) => r.deref()).length} still reachable)`,
      () => {
        fullGc();
        return senders.every((r) => r.deref() === undefined);
      },
      15_000,
    );
  }, 180_000);
});
