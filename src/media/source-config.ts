import { plainToInstance } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsIP,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidationError,
  validateSync,
} from 'class-validator';
import type { VideoCodecName } from './media-source';

/** The kinds of source a configuration can name. */
export const SOURCE_KINDS = ['test', 'rtp', 'rtsp', 'file'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PROFILE = /^(auto|[0-9a-fA-F]{6})$/;

class BaseSourceConfig {
  /** The name clients use in `session:start { source }` (letters, digits, `.`, `_`, `-`). */
  @IsString()
  @Matches(ID, { message: 'id must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })
  id!: string;

  @IsIn(SOURCE_KINDS)
  kind!: SourceKind;
}

/** The built-in looping VP8 clip (or another VP8 IVF clip, looped). */
export class TestSourceConfig extends BaseSourceConfig {
  declare kind: 'test';
  /** An IVF (VP8) clip to loop instead of the shipped test pattern. */
  @IsOptional() @IsString() @IsNotEmpty()
  file?: string;
}

/** RTP over UDP from any encoder (VP8, or H.264 packetization-mode 1). */
export class RtpSourceConfig extends BaseSourceConfig {
  declare kind: 'rtp';
  @IsIn(['VP8', 'H264'])
  codec!: VideoCodecName;
  /** UDP port the encoder sends to (0 = an ephemeral port, read from the source). */
  @IsInt() @Min(0) @Max(65535)
  port!: number;
  /** Address to bind (default 127.0.0.1; 0.0.0.0 to take RTP from other hosts). */
  @IsOptional() @IsIP()
  host?: string;
  @IsOptional() @IsInt() @Min(96) @Max(127)
  payloadType?: number;
  @IsOptional() @IsInt() @Min(100) @Max(600_000)
  offlineAfterMs?: number;
  /** H.264: the profile-level-id to negotiate (6 hex digits, or `auto` = from the stream's SPS). */
  @IsOptional() @Matches(PROFILE, { message: 'profileLevelId must be 6 hex digits or "auto"' })
  profileLevelId?: string;
  /** Opus audio from the encoder on this UDP port (same host): the source then carries audio. */
  @IsOptional() @IsInt() @Min(0) @Max(65535)
  audioPort?: number;
  /** The audio's payload type (default 111). */
  @IsOptional() @IsInt() @Min(96) @Max(127)
  audioPayloadType?: number;
}

/** What the sources that run ffmpeg (RTSP, file) share. */
abstract class FfmpegSourceConfig extends BaseSourceConfig {
  @IsOptional() @Matches(PROFILE, { message: 'profileLevelId must be 6 hex digits or "auto"' })
  profileLevelId?: string;
  @IsOptional() @IsString() @IsNotEmpty()
  ffmpegPath?: string;
  /** Run ffmpeg only while someone watches: start for the first viewer (default false). */
  @IsOptional() @IsBoolean()
  onDemand?: boolean;
  /** On demand: stop this long after the last viewer left (ms, default 10000). */
  @IsOptional() @IsInt() @Min(0) @Max(3_600_000)
  lingerMs?: number;
  /** Relay the input's audio too, transcoded to Opus by ffmpeg (the video is still copied; default false). */
  @IsOptional() @IsBoolean()
  audio?: boolean;
}

/** An RTSP camera pulled by ffmpeg without transcoding. */
export class RtspSourceConfig extends FfmpegSourceConfig {
  declare kind: 'rtsp';
  @IsString() @MaxLength(2048) @Matches(/^rtsps?:\/\/\S+$/i, { message: 'url must be an rtsp:// URL' })
  url!: string;
  @IsOptional() @IsIn(['VP8', 'H264'])
  codec?: VideoCodecName;
  @IsOptional() @IsIn(['tcp', 'udp'])
  transport?: 'tcp' | 'udp';
  @IsOptional() @IsInt() @Min(100) @Max(600_000)
  offlineAfterMs?: number;
  @IsOptional() @IsInt() @Min(1000) @Max(600_000)
  stallRestartMs?: number;
}

/** A file (IVF or WebM with VP8, MP4 with H.264) played without transcoding. */
export class FileSourceConfig extends FfmpegSourceConfig {
  declare kind: 'file';
  @IsString() @IsNotEmpty()
  path!: string;
  /** Play forever (default) or once (the viewers' video ends with the file). */
  @IsOptional() @IsBoolean()
  loop?: boolean;
  @IsOptional() @IsIn(['ivf', 'webm', 'mp4'])
  container?: 'ivf' | 'webm' | 'mp4';
}

/** One named source, as configured (environment `SOURCES`, a `SOURCES_FILE`, or code). */
export type SourceConfig = TestSourceConfig | RtpSourceConfig | RtspSourceConfig | FileSourceConfig;

/** Plain-object form, for code that configures sources (`MediaModule.forRoot({ sources })`). */
export type SourceConfigInit =
  | ({ kind: 'test' } & Omit<TestSourceConfig, 'kind'>)
  | ({ kind: 'rtp' } & Omit<RtpSourceConfig, 'kind'>)
  | ({ kind: 'rtsp' } & Omit<RtspSourceConfig, 'kind'>)
  | ({ kind: 'file' } & Omit<FileSourceConfig, 'kind'>);

const CLASSES: Record<SourceKind, new () => BaseSourceConfig> = {
  test: TestSourceConfig,
  rtp: RtpSourceConfig,
  rtsp: RtspSourceConfig,
  file: FileSourceConfig,
};

export class SourceConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid source configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SourceConfigError';
  }
}

function flatten(errors: ValidationError[], prefix: string): string[] {
  return errors.flatMap((e) => [
    ...Object.values(e.constraints ?? {}).map((m) => `${prefix}.${e.property}: ${m}`),
    ...flatten(e.children ?? [], `${prefix}.${e.property}`),
  ]);
}

/**
 * Validates a list of source configurations (parsed JSON or objects from code). Returns the
 * problems, each prefixed with `label[index]` (empty = valid): unknown kinds, unknown or
 * missing fields, bad values, duplicate ids, and ids in `reserved` (the default source's).
 */
export function sourceConfigProblems(input: unknown, label = 'SOURCES', reserved: string[] = []): string[] {
  if (!Array.isArray(input)) return [`${label}: must be a JSON array of source objects`];
  const problems: string[] = [];
  const seen = new Set(reserved);
  input.forEach((item, i) => {
    const at = `${label}[${i}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      problems.push(`${at}: must be an object`);
      return;
    }
    const kind = (item as { kind?: unknown }).kind;
    const cls = typeof kind === 'string' && (SOURCE_KINDS as readonly string[]).includes(kind) ? CLASSES[kind as SourceKind] : undefined;
    if (!cls) {
      problems.push(`${at}.kind: must be one of ${SOURCE_KINDS.join(', ')}`);
      return;
    }
    const instance = plainToInstance(cls, item);
    problems.push(...flatten(validateSync(instance, { whitelist: true, forbidNonWhitelisted: true }), at));
    const id = (item as { id?: unknown }).id;
    if (typeof id === 'string') {
      if (seen.has(id)) problems.push(`${at}.id: "${id}" is already used by another source`);
      seen.add(id);
    }
  });
  return problems;
}

/** Validates and returns the configurations; throws one `SourceConfigError` listing every problem. */
export function parseSourceConfigs(input: unknown, label = 'SOURCES', reserved: string[] = []): SourceConfig[] {
  const problems = sourceConfigProblems(input, label, reserved);
  if (problems.length) throw new SourceConfigError(problems);
  return (input as object[]).map((item) => ({ ...item }) as SourceConfig);
}
