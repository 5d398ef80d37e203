/**
 * Packet loss on the server's send, repaired by NACK: real headless Chromium plays the demo
 * page against the real application on the lean send path (the default), while the server
 * drops about 5 % of its outgoing RTP (werift's `debug.outboundPacketLoss`, which the lean
 * sender honours with werift's meaning: 95 = send 95 %).
 */
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';
import { SessionService } from '../../src/session/session.service';
import { TestApp, startApp } from '../helpers/app';
import { probe } from '../helpers/session-probe';
import { BrowserContextHandle, CHROMIUM_ARGS, CHROMIUM_PATH, describeWithBrowser, newContext } from '../helpers/browser';
import { until } from '../helpers/wait';

interface Sample {
  at: number;
  frames: number;
  framesDecoded: number;
  nackCount: number;
  packetsReceived: number;
  packetsLost: number;
  freezeCount: number;
  totalFreezesDuration: number;
  /** Chromium's count of packets that came as RTX (absent until the first: 0). */
  retransmittedPacketsReceived: number;
}

jest.setTimeout(90_000);

describeWithBrowser('NACK repair of server-side packet loss in headless Chromium (lean send path)', () => {
  let server: BrowserServer;
  let browser: Browser;
  let t: TestApp;
  let ctx: BrowserContextHandle;
  let sessions: SessionService;
  /** Chromium's own log lines about SRTP (WebRTC logs every failed unprotect to stderr). */
  const srtpLog: string[] = [];

  beforeAll(async () => {
    // A browser server, so that its stderr (Chromium's log) can be read.
    server = await chromium.launchServer({
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS, '--enable-logging=stderr', '--v=0'],
      headless: true,
    });
    let partial = '';
    server.process().stderr?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (/srtp|unprotect/i.test(line)) srtpLog.push(line);
    });
    browser = await chromium.connect(server.wsEndpoint());
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    t = await startApp();
    sessions = t.app.get(SessionService);
    ctx = await newContext(browser);
  });
  afterEach(async () => {
    if (sessions) await until('no session still connecting', () => sessions.list().every((s) => s.state !== 'connecting'), 10_000).catch(() => undefined);
    await ctx?.close();
    await t?.close();
  });

  async function sample(page: Page): Promise<Sample> {
    return page.evaluate(async () => {
      const d = (window as unknown as { demo: { frames: number; session: { pc: RTCPeerConnection } } }).demo;
      const stats = [...(await d.session.pc.getStats()).values()] as Array<Record<string, number | string>>;
      const inbound = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video') ?? {};
      const n = (k: string) => Number(inbound[k] ?? 0);
      return {
        at: performance.now(),
        frames: d.frames,
        framesDecoded: n('framesDecoded'),
        nackCount: n('nackCount'),
        packetsReceived: n('packetsReceived'),
        packetsLost: n('packetsLost'),
        freezeCount: n('freezeCount'),
        totalFreezesDuration: n('totalFreezesDuration'),
        retransmittedPacketsReceived: n('retransmittedPacketsReceived'),
      };
    });
  }

  it('5 % of RTP dropped by the server: NACKs are answered, frames keep coming, nothing fails to decrypt', async () => {
    const page = await ctx.newPage();
    await page.goto(`${t.url}/?loopback=1`);
    await page.waitForFunction(() => (window as unknown as { demo: { frames: number } }).demo?.frames > 15, undefined, {
      timeout: 40_000, // the suite's lanes share two cores with this browser
      polling: 100,
    });
    expect(sessions.count).toBe(1);
    // werift's sender and its debug switch are reached where the session runs (this thread or its media worker).
    const session = sessions.list()[0];
    const leanStats = async () => {
      await sessions.workerPool?.refresh();
      return { ...session.leanStats! };
    };
    expect((await leanStats()).sent).toBeGreaterThan(0);
    // Chromium offers RTX; the server negotiates it, so retransmissions go as RTX.
    expect((await probe(session, { action: 'video-sender' }))!.rtxPayloadType).toBeDefined();

    // Induce the loss now that the session is up (ICE, DTLS and SCTP set up without it).
    await probe(session, { action: 'outbound-loss', sendPercent: 95 });
    const before = await sample(page);
    const leanBefore = await leanStats();
    const samples: Sample[] = [];
    for (let i = 0; i < 16; i++) {
      await new Promise((r) => setTimeout(r, 500));
      samples.push(await sample(page));
    }
    const after = samples[samples.length - 1];
    const lean = await leanStats();

    // The server dropped some and resent them when asked.
    const sent = lean.sent - leanBefore.sent;
    expect(sent).toBeGreaterThan(50);
    expect(lean.nacked - leanBefore.nacked).toBeGreaterThan(0);
    expect(lean.retransmitted - leanBefore.retransmitted).toBeGreaterThan(0);
    expect((await probe(session, { action: 'video-sender' }))!.retransmittedPacketsSent).toBeGreaterThan(0);

    // Chromium asked for them, and got them: what is still missing is well under the 5 %
    // dropped (a retransmission that is dropped again is asked for again). With RTX, Chromium
    // counts a packet repaired by RTX as lost on the media SSRC, and as received in
    // retransmittedPacketsReceived.
    expect(after.nackCount - before.nackCount).toBeGreaterThan(0);
    // They came as RTX, which Chromium counts apart.
    const repaired = after.retransmittedPacketsReceived - before.retransmittedPacketsReceived;
    expect(repaired).toBeGreaterThan(0);
    const received = after.packetsReceived - before.packetsReceived;
    const lost = after.packetsLost - before.packetsLost;
    expect(received).toBeGreaterThan(50);
    expect(lost - repaired).toBeLessThan(0.01 * (received + lost) + 2);

    // No visible freeze: frames decoded and frames painted rise in every half-second sample.
    let previous = before;
    for (const s of samples) {
      expect(s.framesDecoded).toBeGreaterThan(previous.framesDecoded);
      expect(s.frames).toBeGreaterThan(previous.frames);
      previous = s;
    }
    // Chromium counts a "freeze" when one frame lasts over 3 frame intervals (and 150 ms):
    // a retransmission dropped again (5 % of them) waits for the next NACK, so a short one
    // may happen; together they stay well under a second in the 8 s.
    expect(after.totalFreezesDuration - before.totalFreezesDuration).toBeLessThan(0.5);

    // Every packet Chromium got decrypted: nothing logged about SRTP, no page errors.
    expect(srtpLog).toEqual([]);
    expect(ctx.problems).toEqual([]);

    // Self-test of that check: a forged packet (the sender's SSRC, a wrong tag) sent to the
    // browser on the same socket is logged by Chromium as an SRTP failure.
    await probe(session, { action: 'forge-srtp', count: 3 });
    await until('Chromium logs the forged packet', () => srtpLog.some((l) => /unprotect/i.test(l)), 5_000);
  });
});
