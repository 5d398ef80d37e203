import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIP,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { readFileSync } from 'node:fs';
import type { AppOptions } from '../app.module';
import { SourceConfig, sourceConfigProblems } from '../media/source-config';
import { DEFAULT_HEAP_GROWING_PERCENT } from '../common/gc-tuning';
import { DEFAULT_PEER_SILENCE_MS } from '../session/peer-silence';
import type { IceServerOption } from '../session/session.options';
import { DEFAULT_CLIENT_LIMITS } from '../signalling/client-limits';

const list = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : value;
const bool = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^(1|true|yes|0|false|no)$/i.test(value) ? /^(1|true|yes)$/i.test(value) : value;
const int = ({ value }: { value: unknown }) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value);

/** The standalone service's environment. Everything optional; see the README's table. */
export class Env {
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  @IsOptional() @IsIP()
  HOST = '0.0.0.0';

  /** Comma-separated STUN/TURN URLs for werift (e.g. `stun:stun.example.org:3478`). */
  @IsOptional() @Transform(list) @IsString({ each: true })
  ICE_SERVERS: string[] = [];

  @IsOptional() @IsString()
  ICE_USERNAME?: string;

  @IsOptional() @IsString()
  ICE_CREDENTIAL?: string;

  /** Addresses announced as host candidates, instead of the interfaces' own (NAT, containers). */
  @IsOptional() @Transform(list) @IsIP(undefined, { each: true })
  ICE_ANNOUNCED_ADDRESSES: string[] = [];

  /** Local IPv4 address the media sockets bind to. */
  @IsOptional() @IsIP(4)
  ICE_BIND_ADDRESS?: string;

  @IsOptional() @Transform(int) @IsInt() @Min(1024) @Max(65535)
  ICE_PORT_MIN?: number;

  @IsOptional() @Transform(int) @IsInt() @Min(1024) @Max(65535)
  ICE_PORT_MAX?: number;

  @IsOptional() @Transform(int) @IsInt() @Min(1) @Max(1000)
  MAX_SESSIONS_PER_CLIENT = 4;

  /** Most sessions on this node, every client together (default: no limit). */
  @IsOptional() @Transform(int) @IsInt() @Min(1) @Max(1_000_000)
  MAX_SESSIONS: number | undefined = undefined;

  /**
   * Media worker threads for the sessions (each runs its sessions' peer connections and send
   * path, so the process uses several cores); 0: every session on the main thread.
   */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(256)
  MEDIA_WORKERS = 0;

  /**
   * How far (percent) V8's heap may grow past its live size before the next full GC (see
   * src/common/gc-tuning.ts); 0: V8's own, smaller, factor.
   */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(1000)
  HEAP_GROWING_PERCENT = DEFAULT_HEAP_GROWING_PERCENT;

  /**
   * The lean send path's SRTP and UDP send: `0` the JavaScript ones; unset or `1` the native
   * addon (webrtc-oneway-srtp) when it is installed and built. Read where protectors are made
   * (src/media/fanout/srtp.ts, also in media workers); checked here for typos.
   */
  @IsOptional() @IsIn(['0', '1'], { message: 'SRTP_NATIVE must be 0 or 1' })
  SRTP_NATIVE: string | undefined = undefined;

  /** Origins allowed to connect (socket.io and HTTP CORS), comma-separated; default: any. */
  @IsOptional() @Transform(list) @Matches(/^(\*|https?:\/\/[^\s/]+)$/, { each: true, message: 'CORS_ORIGINS: each must be * or an origin like https://example.org' })
  CORS_ORIGINS: string[] = [];

  /** socket.io path. */
  @IsOptional() @Matches(/^\/[\w./-]*$/, { message: 'SOCKET_PATH must be a path starting with /' })
  SOCKET_PATH = '/socket.io';

  /** socket.io namespace of the signalling gateway. */
  @IsOptional() @Matches(/^\/[\w.-]*$/, { message: 'SOCKET_NAMESPACE must be / or /name' })
  SOCKET_NAMESPACE = '/';

  /** On SIGTERM: drain and close within this time, or exit 1 anyway. */
  @IsOptional() @Transform(int) @IsInt() @Min(100) @Max(600_000)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  /** Pair only with remote candidates on 127.0.0.0/8 (tests, single-machine setups). */
  @IsOptional() @Transform(bool) @IsBoolean()
  ICE_LOOPBACK_ONLY = false;

  /** `redis://host:port`: socket.io's Redis adapter, so that several nodes form one cluster. */
  @IsOptional() @Matches(/^rediss?:\/\/\S+$/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  /** This node's name in the cluster (default: host name + random suffix). */
  @IsOptional() @Matches(/^[\w.-]{1,64}$/, { message: 'NODE_ID: letters, digits, . _ - (at most 64)' })
  NODE_ID?: string;

  /** Bearer token for the `/admin` endpoints; they are off without one. */
  @IsOptional() @IsString() @MinLength(16)
  ADMIN_TOKEN?: string;

  /** On SIGTERM, how long the node waits after telling its clients before it closes their sockets. */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(30000)
  DRAIN_NOTICE_MS = 300;

  /** Named media sources: a JSON array of `{ id, kind: 'test' | 'rtp' | 'rtsp' | 'file', ... }`. */
  @IsOptional() @IsString()
  SOURCES?: string;

  /** Path of a JSON file holding an array of sources (as SOURCES); both may be given. */
  @IsOptional() @IsString()
  SOURCES_FILE?: string;

  /** Id of the source a session gets when it names none (default `test`, the built-in one). */
  @IsOptional() @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'DEFAULT_SOURCE must be a source id' })
  DEFAULT_SOURCE?: string;

  /** Serve WHEP at `/whep/<source>` (draft-ietf-wish-whep). */
  @IsOptional() @Transform(bool) @IsBoolean()
  WHEP_ENABLED = true;

  /** Serve Prometheus metrics at `/metrics` (on as well when METRICS_TOKEN is set). */
  @IsOptional() @Transform(bool) @IsBoolean()
  METRICS_ENABLED = false;

  /** Bearer token `/metrics` requires; without one it is open (when enabled). */
  @IsOptional() @IsString() @MinLength(16)
  METRICS_TOKEN?: string;

  /** SOURCES_FILE's sources, then SOURCES's, validated (filled by loadEnv). */
  declare sources: SourceConfig[];

  /** Sockets one client address may hold at once (0: no limit). */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(1_000_000)
  MAX_SOCKETS_PER_ADDRESS = DEFAULT_CLIENT_LIMITS.maxSocketsPerAddress;

  /** Sessions one client address may have in progress, not yet connected (0: no limit). */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(1_000_000)
  MAX_SESSIONS_IN_PROGRESS_PER_ADDRESS = DEFAULT_CLIENT_LIMITS.maxSessionsInProgressPerAddress;

  /** Events one socket may send per second, sustained (0: no limit). */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(1_000_000)
  EVENTS_PER_SECOND = DEFAULT_CLIENT_LIMITS.eventsPerSecond;

  /** Extra events a socket may send over EVENTS_PER_SECOND within 10 s. */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(1_000_000)
  EVENT_BURST = DEFAULT_CLIENT_LIMITS.eventBurst;

  /** Proxies in front that append to X-Forwarded-For (a load balancer: 1); 0 ignores the header. */
  @IsOptional() @Transform(int) @IsInt() @Min(0) @Max(10)
  TRUST_PROXY = DEFAULT_CLIENT_LIMITS.trustProxy;

  /** A connected viewer that sends no RTCP and answers no ICE consent check this long is released. */
  @IsOptional() @Transform(int) @IsInt() @Min(1000) @Max(600_000)
  PEER_SILENCE_MS = DEFAULT_PEER_SILENCE_MS;

  @IsOptional() @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';
}

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid environment:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EnvError';
  }
}

/** Validates the environment once; throws one error that lists every bad variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const known = Object.keys(new Env()).concat(['ICE_USERNAME', 'ICE_CREDENTIAL', 'ICE_BIND_ADDRESS', 'ICE_PORT_MIN', 'ICE_PORT_MAX', 'REDIS_URL', 'NODE_ID', 'ADMIN_TOKEN', 'SOURCES', 'SOURCES_FILE', 'DEFAULT_SOURCE', 'METRICS_TOKEN']);
  const picked = Object.fromEntries(known.filter((k) => source[k] !== undefined && source[k] !== '').map((k) => [k, source[k]]));
  const env = plainToInstance(Env, picked, { exposeDefaultValues: true });
  const problems = validateSync(env, { validationError: { target: false } }).flatMap((e) =>
    Object.values(e.constraints ?? {}).map((m) => `${e.property}: ${m}`),
  );
  env.sources = loadSources(env, problems);
  if ((env.ICE_PORT_MIN === undefined) !== (env.ICE_PORT_MAX === undefined)) {
    problems.push('ICE_PORT_MIN and ICE_PORT_MAX must be set together');
  } else if (env.ICE_PORT_MIN !== undefined && env.ICE_PORT_MAX !== undefined && env.ICE_PORT_MIN > env.ICE_PORT_MAX) {
    problems.push('ICE_PORT_MIN must not be greater than ICE_PORT_MAX');
  }
  if (problems.length) throw new EnvError(problems);
  return env;
}

/** The sources of SOURCES_FILE and SOURCES, validated; every problem goes to `problems`. */
function loadSources(env: Env, problems: string[]): SourceConfig[] {
  const sources: unknown[] = [];
  const take = (label: string, text: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      problems.push(`${label}: not valid JSON (${(err as Error).message})`);
      return;
    }
    const found = sourceConfigProblems(parsed, label, ['test', ...sources.map((s) => (s as { id?: string }).id ?? '')]);
    problems.push(...found);
    if (!found.length) sources.push(...(parsed as unknown[]));
  };
  if (typeof env.SOURCES_FILE === 'string') {
    let text: string | undefined;
    try {
      text = readFileSync(env.SOURCES_FILE, 'utf8');
    } catch (err) {
      problems.push(`SOURCES_FILE: cannot read ${env.SOURCES_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (text !== undefined) take('SOURCES_FILE', text);
  }
  if (typeof env.SOURCES === 'string') take('SOURCES', env.SOURCES);
  const ids = new Set(['test', ...sources.map((s) => (s as { id: string }).id)]);
  if (env.DEFAULT_SOURCE !== undefined && !ids.has(env.DEFAULT_SOURCE)) {
    problems.push(`DEFAULT_SOURCE: "${env.DEFAULT_SOURCE}" names no source (known: ${[...ids].join(', ')})`);
  }
  return sources as SourceConfig[];
}

/** Maps the validated environment to the application's options. */
export function appOptionsFromEnv(env: Env): AppOptions {
  const iceServers: IceServerOption[] = env.ICE_SERVERS.map((urls) => ({
    urls,
    ...(urls.startsWith('turn') ? { username: env.ICE_USERNAME, credential: env.ICE_CREDENTIAL } : {}),
  }));
  return {
    session: {
      iceServers,
      announcedAddresses: env.ICE_ANNOUNCED_ADDRESSES.length ? env.ICE_ANNOUNCED_ADDRESSES : undefined,
      bindAddress: env.ICE_BIND_ADDRESS,
      portRange: env.ICE_PORT_MIN !== undefined ? [env.ICE_PORT_MIN, env.ICE_PORT_MAX!] : undefined,
      maxSessionsPerClient: env.MAX_SESSIONS_PER_CLIENT,
      ...(env.MAX_SESSIONS !== undefined ? { maxSessions: env.MAX_SESSIONS } : {}),
      ...(env.ICE_LOOPBACK_ONLY ? { remoteAddressFilter: (address: string) => address.startsWith('127.') } : {}),
      peerSilenceMs: env.PEER_SILENCE_MS,
      mediaWorkers: env.MEDIA_WORKERS,
    },
    streaming: {
      gateway: {
        path: env.SOCKET_PATH,
        ...(env.SOCKET_NAMESPACE !== '/' ? { namespace: env.SOCKET_NAMESPACE } : {}),
        cors: { origin: corsOrigin(env) },
      },
      sources: env.sources ?? [],
      limits: {
        maxSocketsPerAddress: env.MAX_SOCKETS_PER_ADDRESS,
        maxSessionsInProgressPerAddress: env.MAX_SESSIONS_IN_PROGRESS_PER_ADDRESS,
        eventsPerSecond: env.EVENTS_PER_SECOND,
        eventBurst: env.EVENT_BURST,
        trustProxy: env.TRUST_PROXY,
      },
      ...(env.DEFAULT_SOURCE ? { defaultSource: env.DEFAULT_SOURCE } : {}),
      whep: { enabled: env.WHEP_ENABLED, allowOrigin: corsOrigin(env) },
      metrics: { enabled: env.METRICS_ENABLED || !!env.METRICS_TOKEN, token: env.METRICS_TOKEN },
    },
    cluster: { nodeId: env.NODE_ID, adminToken: env.ADMIN_TOKEN, drainNoticeMs: env.DRAIN_NOTICE_MS },
  };
}

/** The CORS `origin` option: any origin (reflected) unless CORS_ORIGINS names them. */
export function corsOrigin(env: Env): true | string[] {
  return env.CORS_ORIGINS.length === 0 || env.CORS_ORIGINS.includes('*') ? true : env.CORS_ORIGINS;
}
