/**
 * `/metrics` parsed by a real Prometheus text-format parser (parse-prometheus-text-format,
 * and promtool when installed) while a werift viewer goes through start, stop, resume and
 * close, and a WHEP viewer joins; `/admin/sessions` for operators.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PictureLossIndication, RtcpPayloadSpecificFeedback } from 'werift';
import { Controller, Get, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { ClusterOptions } from '../../src/cluster/cluster.options';
import { StreamingModule } from '../../src/streaming.module';
import { LOOPBACK_ONLY, TestApp, startApp } from '../helpers/app';
import { WeriftViewer, ok, request } from '../helpers/werift-viewer';
import { whepPost } from '../whep/whep-client';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => Family[];

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Sample[];
}

const TOKEN = 'metrics-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const PROMTOOL = '/usr/bin/promtool';

jest.setTimeout(60_000);

describe('Prometheus metrics', () => {
  let t: TestApp;
  const viewers: WeriftViewer[] = [];

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    await t?.close();
  });

  async function scrape(): Promise<Map<string, Family>> {
    const res = await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    if (existsSync(PROMTOOL)) {
      const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      // promtool exits 1 on lint warnings too (e.g. counters without _total); parse errors say "error while".
      expect(check.stderr + check.stdout).not.toMatch(/error while|parse error/i);
    }
    const families = parsePrometheus(text);
    // The parser is lenient about values and types: check those too (Go ParseFloat syntax).
    const number = (v: string | undefined) => v !== undefined && /^(-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?inf|nan)$/i.test(v);
    for (const f of families) {
      expect([f.name, f.type]).not.toEqual([f.name, 'UNTYPED']);
      expect(f.help.length).toBeGreaterThan(0);
      for (const sample of f.metrics) {
        // (It drops _count/_sum of labelled histograms, e.g. nodejs_gc_duration_seconds.)
        const values = sample.buckets ? [...Object.values(sample.buckets), sample.count, sample.sum].filter((v) => v !== undefined) : [sample.value];
        for (const v of values) expect([f.name, v, number(v)]).toEqual([f.name, v, true]);
      }
    }
    return new Map(families.map((f) => [f.name, f]));
  }

  function value(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
    const family = m.get(name);
    if (!family) throw new Error(`no metric ${name}`);
    const matching = family.metrics.filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
    return matching.reduce((n, s) => n + Number(s.value ?? s.count ?? 0), 0);
  }

  it('is off by default (404), and asks for the token when one is set (401)', async () => {
    t = await startApp();
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    await t.close();
    t = await startApp({ streaming: { metrics: { token: TOKEN } } });
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect((await fetch(`${t.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('when off, leaves /metrics to an embedding application that serves its own', async () => {
    @Controller('metrics')
    class HostMetrics {
      @Get()
      own(): string {
        return 'host_metric 1\n';
      }
    }
    // Its module after StreamingModule: our route is registered first and must step aside.
    @Module({ controllers: [HostMetrics] })
    class HostMetricsModule {}
    @Module({ imports: [StreamingModule.forRoot({ ...LOOPBACK_ONLY }), HostMetricsModule] })
    class HostModule {}
    const app = (await Test.createTestingModule({ imports: [HostModule] }).compile()).createNestApplication({ logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    try {
      const { port } = app.getHttpServer().address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect([res.status, await res.text()]).toEqual([200, 'host_metric 1\n']);
    } finally {
      await app.close();
    }
  });

  it('parses as Prometheus text, and its counters move through start, stop, resume and close', async () => {
    t = await startApp({
      streaming: { metrics: { enabled: true, token: TOKEN } },
      customize: (b) => b.overrideProvider(ClusterOptions).useValue(ClusterOptions.from({ adminToken: ADMIN })),
    });
    const m0 = await scrape();
    for (const name of [
      'streaming_sessions',
      'streaming_source_viewers',
      'streaming_sessions_started_total',
      'streaming_sessions_closed_total',
      'streaming_negotiation_failures_total',
      'streaming_rtp_packets_sent_total',
      'streaming_rtp_bytes_sent_total',
      'streaming_nacks_received_total',
      'streaming_rtp_retransmitted_packets_total',
      'streaming_plis_received_total',
      'streaming_keyframe_replays_total',
      'streaming_lean_send_events_total',
      'streaming_time_to_first_packet_seconds',
      'streaming_source_state',
      'streaming_source_input_bitrate_bps',
      'streaming_source_input_bytes_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(m0.has(name)).toBe(true);
    }
    expect(value(m0, 'streaming_sessions')).toBe(0);
    expect(value(m0, 'streaming_source_state', { source: 'test', state: 'live' })).toBe(1);
    expect(m0.get('streaming_time_to_first_packet_seconds')!.type).toBe('HISTOGRAM');

    // A refused start counts as a failure by code.
    const socket = await t.connect();
    const refused = await request(socket, 'session:start', { source: 'nope' });
    expect(refused.ok).toBe(false);

    // Start.
    const v = new WeriftViewer(socket);
    viewers.push(v);
    await v.startWithOffer();
    await v.waitForState('streaming');
    await v.waitForPackets(20);
    const m1 = await scrape();
    expect(value(m1, 'streaming_negotiation_failures_total', { code: 'SOURCE_NOT_FOUND', stage: 'start' })).toBe(1);
    expect(value(m1, 'streaming_sessions_started_total', { source: 'test', transport: 'socket.io' })).toBe(1);
    expect(value(m1, 'streaming_sessions', { state: 'streaming' })).toBe(1);
    expect(value(m1, 'streaming_source_viewers', { source: 'test' })).toBe(1);
    expect(value(m1, 'streaming_rtp_packets_sent_total', { source: 'test' })).toBeGreaterThanOrEqual(20);
    expect(value(m1, 'streaming_rtp_bytes_sent_total', { source: 'test' })).toBeGreaterThan(1000);
    const ttfp = m1.get('streaming_time_to_first_packet_seconds')!.metrics[0];
    expect(Number(ttfp.count)).toBe(1);
    expect(Number(ttfp.sum)).toBeGreaterThan(0);
    expect(Number(ttfp.sum)).toBeLessThan(5);
    expect(Number(ttfp.buckets!['+Inf'])).toBe(1);
    expect(value(m1, 'streaming_source_input_bytes_total', { source: 'test' })).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 2100)); // two bitrate samples
    expect(value(await scrape(), 'streaming_source_input_bitrate_bps', { source: 'test' })).toBeGreaterThan(10_000);

    // A picture-loss indication from the viewer is counted, with what it led to.
    // (Built by hand: werift's receiver.sendRtcpPLI puts its own RTCP SSRC as sender SSRC,
    // which the werift server routes to its receiver of that SSRC, not to the video sender.)
    const receiver = v.pc.getTransceivers().find((x) => x.kind === 'video')!.receiver;
    const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: v.videoTrack!.ssrc! }) });
    await receiver.dtlsTransport.sendRtcp([pli]);
    await new Promise((r) => setTimeout(r, 300));
    const mPli = await scrape();
    expect(value(mPli, 'streaming_plis_received_total', { source: 'test' })).toBe(1);
    expect(
      value(mPli, 'streaming_plis_received_total', { source: 'test', outcome: 'replay' }) +
        value(mPli, 'streaming_plis_received_total', { source: 'test', outcome: 'source' }),
    ).toBe(1);
    expect(value(mPli, 'streaming_keyframe_replays_total', { source: 'test' })).toBe(
      value(mPli, 'streaming_plis_received_total', { source: 'test', outcome: 'replay' }),
    );

    // The operator's view of the same session.
    const admin = await fetch(`${t.url}/admin/sessions`, { headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(admin.status).toBe(200);
    const body = (await admin.json()) as { count: number; sessions: { id: string; transport: string; state: string; rtp: { packets: number }; remote?: string }[] };
    expect(body.count).toBe(1);
    expect(body.sessions[0]).toMatchObject({ id: v.sessionId, transport: 'socket.io', state: 'streaming', source: 'test', connection: 'connected' });
    expect(body.sessions[0].rtp.packets).toBeGreaterThan(0);
    expect(body.sessions[0].remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await fetch(`${t.url}/admin/sessions`)).status).toBe(401);

    // Stop: data-only, and packets stop counting.
    await ok(v.socket, 'session:stop-video', { sessionId: v.sessionId });
    await new Promise((r) => setTimeout(r, 200));
    const m2 = await scrape();
    expect(value(m2, 'streaming_sessions', { state: 'data-only' })).toBe(1);
    expect(value(m2, 'streaming_sessions', { state: 'streaming' })).toBe(0);
    expect(value(m2, 'streaming_source_viewers', { source: 'test' })).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const m2b = await scrape();
    expect(value(m2b, 'streaming_rtp_packets_sent_total')).toBe(value(m2, 'streaming_rtp_packets_sent_total'));

    // Resume: streaming again, packets counting again (from a new sender: no reset).
    await ok(v.socket, 'session:resume-video', { sessionId: v.sessionId });
    await v.waitForPackets(v.packets + 20);
    const m3 = await scrape();
    expect(value(m3, 'streaming_sessions', { state: 'streaming' })).toBe(1);
    expect(value(m3, 'streaming_rtp_packets_sent_total')).toBeGreaterThan(value(m2b, 'streaming_rtp_packets_sent_total'));

    // A WHEP viewer shows up by its transport.
    const w = await whepPost(`${t.url}/whep/test`);
    expect(w.status).toBe(201);
    const m4 = await scrape();
    expect(value(m4, 'streaming_sessions_started_total', { transport: 'whep' })).toBe(1);
    await fetch(w.resource!, { method: 'DELETE' });
    await w.close();

    // Close.
    await ok(v.socket, 'session:close', { sessionId: v.sessionId });
    const m5 = await scrape();
    expect(value(m5, 'streaming_sessions')).toBe(0);
    expect(value(m5, 'streaming_sessions_closed_total', { reason: 'client-closed', transport: 'socket.io' })).toBe(1);
    expect(value(m5, 'streaming_sessions_closed_total', { reason: 'client-closed', transport: 'whep' })).toBe(1);
    // Counters never go back, though the sessions and their senders are gone.
    expect(value(m5, 'streaming_rtp_packets_sent_total')).toBeGreaterThanOrEqual(value(m4, 'streaming_rtp_packets_sent_total'));
    expect(value(m5, 'streaming_sessions_started_total')).toBe(2);
  });
});
