import { EnvError, appOptionsFromEnv, loadEnv } from './env';

describe('loadEnv', () => {
  it('gives the defaults for an empty environment', () => {
    const env = loadEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.ICE_SERVERS).toEqual([]);
    expect(env.HEAP_GROWING_PERCENT).toBe(100);
    expect(loadEnv({ HEAP_GROWING_PERCENT: '0' }).HEAP_GROWING_PERCENT).toBe(0);
    expect(() => loadEnv({ HEAP_GROWING_PERCENT: '-5' })).toThrow(/HEAP_GROWING_PERCENT/);
    expect(appOptionsFromEnv(env).session).toMatchObject({ iceServers: [], maxSessionsPerClient: 4 });
  });

  it('parses lists and numbers', () => {
    const env = loadEnv({
      PORT: '8080',
      HOST: '127.0.0.1',
      ICE_SERVERS: 'stun:stun.example.org:3478, turn:turn.example.org:3478',
      ICE_USERNAME: 'u',
      ICE_CREDENTIAL: 'p',
      ICE_ANNOUNCED_ADDRESSES: '203.0.113.7',
      ICE_PORT_MIN: '40000',
      ICE_PORT_MAX: '40099',
    });
    const session = appOptionsFromEnv(env).session!;
    expect(env.PORT).toBe(8080);
    expect(session.portRange).toEqual([40000, 40099]);
    expect(session.announcedAddresses).toEqual(['203.0.113.7']);
    expect(session.iceServers).toEqual([
      { urls: 'stun:stun.example.org:3478' },
      { urls: 'turn:turn.example.org:3478', username: 'u', credential: 'p' },
    ]);
  });

  it('maps the per-client limits and the peer-silence time, with their defaults', () => {
    const defaults = appOptionsFromEnv(loadEnv({}));
    expect(defaults.streaming!.limits).toEqual({
      maxSocketsPerAddress: 50,
      maxSessionsInProgressPerAddress: 16,
      eventsPerSecond: 50,
      eventBurst: 100,
      trustProxy: 0,
    });
    expect(defaults.session!.peerSilenceMs).toBe(5000);
    const set = appOptionsFromEnv(
      loadEnv({
        MAX_SOCKETS_PER_ADDRESS: '0',
        MAX_SESSIONS_IN_PROGRESS_PER_ADDRESS: '3',
        EVENTS_PER_SECOND: '10',
        EVENT_BURST: '5',
        TRUST_PROXY: '1',
        PEER_SILENCE_MS: '8000',
      }),
    );
    expect(set.streaming!.limits).toEqual({ maxSocketsPerAddress: 0, maxSessionsInProgressPerAddress: 3, eventsPerSecond: 10, eventBurst: 5, trustProxy: 1 });
    expect(set.session!.peerSilenceMs).toBe(8000);
    expect(() => loadEnv({ EVENTS_PER_SECOND: 'fast', PEER_SILENCE_MS: '10', TRUST_PROXY: '-1' })).toThrow(
      /EVENTS_PER_SECOND[\s\S]*TRUST_PROXY[\s\S]*PEER_SILENCE_MS|EVENTS_PER_SECOND[\s\S]*PEER_SILENCE_MS/,
    );
  });

  it('lists every bad variable in one error', () => {
    let error: EnvError | undefined;
    try {
      loadEnv({ PORT: 'abc', HOST: 'nowhere', ICE_ANNOUNCED_ADDRESSES: 'x.y', ICE_PORT_MIN: '50000' });
    } catch (err) {
      error = err as EnvError;
    }
    expect(error).toBeInstanceOf(EnvError);
    const text = error!.problems.join('\n');
    for (const name of ['PORT', 'HOST', 'ICE_ANNOUNCED_ADDRESSES', 'ICE_PORT_MIN and ICE_PORT_MAX']) {
      expect(text).toContain(name);
    }
  });

  it('refuses an inverted port range', () => {
    expect(() => loadEnv({ ICE_PORT_MIN: '5000', ICE_PORT_MAX: '4000' })).toThrow(/not be greater/);
  });
});

describe('loadEnv: media sources', () => {
  const { writeFileSync, mkdtempSync, rmSync } = jest.requireActual<typeof import('node:fs')>('node:fs');
  const { join } = jest.requireActual<typeof import('node:path')>('node:path');
  const { tmpdir } = jest.requireActual<typeof import('node:os')>('node:os');

  it('reads SOURCES_FILE and SOURCES (JSON arrays) into the streaming options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-sources-'));
    try {
      const file = join(dir, 'sources.json');
      writeFileSync(file, JSON.stringify([{ id: 'cam', kind: 'rtsp', url: 'rtsp://10.0.0.5/stream' }]));
      const env = loadEnv({
        SOURCES_FILE: file,
        SOURCES: '[{"id":"enc","kind":"rtp","codec":"VP8","port":5004}]',
        DEFAULT_SOURCE: 'cam',
      });
      expect(env.sources.map((s) => s.id)).toEqual(['cam', 'enc']);
      const streaming = (appOptionsFromEnv(env) as { streaming?: { sources?: unknown[]; defaultSource?: string } }).streaming;
      expect(streaming?.sources).toHaveLength(2);
      expect(streaming?.defaultSource).toBe('cam');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every problem of SOURCES and SOURCES_FILE in one error', () => {
    let error: EnvError | undefined;
    try {
      loadEnv({
        PORT: 'x',
        SOURCES: '[{"id":"a","kind":"rtp","codec":"VP9","port":5004},{"id":"b","kind":"file"}]',
        SOURCES_FILE: '/nonexistent/sources.json',
        DEFAULT_SOURCE: 'zzz',
      });
    } catch (err) {
      error = err as EnvError;
    }
    expect(error).toBeInstanceOf(EnvError);
    const text = error!.problems.join('\n');
    for (const part of ['PORT', 'SOURCES[0].codec', 'SOURCES[1].path', 'SOURCES_FILE: cannot read', 'DEFAULT_SOURCE']) {
      expect(text).toContain(part);
    }
    expect(() => loadEnv({ SOURCES: '{not json' })).toThrow(/SOURCES: not valid JSON/);
  });
});

describe('loadEnv: embedding options (gateway, caps, shutdown)', () => {
  it('has defaults that keep the standalone behaviour', () => {
    const env = loadEnv({});
    expect(env).toMatchObject({ SOCKET_PATH: '/socket.io', SOCKET_NAMESPACE: '/', CORS_ORIGINS: [], SHUTDOWN_TIMEOUT_MS: 10_000 });
    expect(env.MAX_SESSIONS).toBeUndefined();
    const options = appOptionsFromEnv(env);
    expect(options.session).not.toHaveProperty('maxSessions');
    expect(options.streaming?.gateway).toEqual({ path: '/socket.io', cors: { origin: true } });
  });

  it('maps the gateway, CORS, per-node cap and loopback-only pairing into the module options', () => {
    const env = loadEnv({
      SOCKET_PATH: '/rtc',
      SOCKET_NAMESPACE: '/video',
      CORS_ORIGINS: 'https://a.example.org, http://localhost:8080',
      MAX_SESSIONS: '200',
      SHUTDOWN_TIMEOUT_MS: '2500',
      ICE_LOOPBACK_ONLY: 'true',
    });
    const options = appOptionsFromEnv(env);
    expect(env.SHUTDOWN_TIMEOUT_MS).toBe(2500);
    expect(options.session?.maxSessions).toBe(200);
    expect(options.streaming?.gateway).toEqual({
      path: '/rtc',
      namespace: '/video',
      cors: { origin: ['https://a.example.org', 'http://localhost:8080'] },
    });
    const filter = options.session!.remoteAddressFilter!;
    expect([filter('127.0.0.1'), filter('127.8.9.10'), filter('192.168.1.2'), filter('8.8.8.8')]).toEqual([true, true, false, false]);
    expect(appOptionsFromEnv(loadEnv({ CORS_ORIGINS: '*' })).streaming?.gateway?.cors).toEqual({ origin: true });
  });

  it('lists every bad embedding variable in one error', () => {
    let error: EnvError | undefined;
    try {
      loadEnv({
        SOCKET_PATH: 'socket.io',
        SOCKET_NAMESPACE: 'video',
        CORS_ORIGINS: 'example.org',
        MAX_SESSIONS: '0',
        SHUTDOWN_TIMEOUT_MS: 'soon',
        ICE_LOOPBACK_ONLY: 'maybe',
      });
    } catch (err) {
      error = err as EnvError;
    }
    expect(error).toBeInstanceOf(EnvError);
    const text = error!.problems.join('\n');
    for (const name of ['SOCKET_PATH', 'SOCKET_NAMESPACE', 'CORS_ORIGINS', 'MAX_SESSIONS', 'SHUTDOWN_TIMEOUT_MS', 'ICE_LOOPBACK_ONLY']) {
      expect(text).toContain(name);
    }
  });
});

describe('WHEP and metrics variables', () => {
  it('WHEP on and metrics off by default; a METRICS_TOKEN turns metrics on behind it', () => {
    const defaults = appOptionsFromEnv(loadEnv({})).streaming;
    expect(defaults?.whep).toEqual({ enabled: true, allowOrigin: true });
    expect(defaults?.metrics).toEqual({ enabled: false, token: undefined });
    const set = appOptionsFromEnv(
      loadEnv({ WHEP_ENABLED: 'false', METRICS_TOKEN: 'a-long-enough-token', CORS_ORIGINS: 'https://a.example' }),
    ).streaming;
    expect(set?.whep).toEqual({ enabled: false, allowOrigin: ['https://a.example'] });
    expect(set?.metrics).toEqual({ enabled: true, token: 'a-long-enough-token' });
    expect(appOptionsFromEnv(loadEnv({ METRICS_ENABLED: 'yes' })).streaming?.metrics?.enabled).toBe(true);
  });

  it('refuses a short METRICS_TOKEN and a non-boolean WHEP_ENABLED', () => {
    expect(() => loadEnv({ METRICS_TOKEN: 'short', WHEP_ENABLED: 'maybe' })).toThrow(/METRICS_TOKEN[\s\S]*WHEP_ENABLED|WHEP_ENABLED[\s\S]*METRICS_TOKEN/);
  });
});
