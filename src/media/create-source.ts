import { MediaSource } from './media-source';
import type { SourceConfig, SourceConfigInit } from './source-config';
import { FileSource } from './sources/file.source';
import { RtpSource } from './sources/rtp.source';
import { RtspSource } from './sources/rtsp.source';
import { DEFAULT_TEST_CLIP, TestPatternSource } from './test-pattern.source';

/**
 * Builds a source from its (validated) configuration. Nothing starts here: the registry
 * starts every source when the module initialises, and stops it when the module is destroyed.
 */
export function createSource(config: SourceConfig | SourceConfigInit): MediaSource {
  const source = build(config);
  if ((config.kind === 'rtsp' || config.kind === 'file') && config.onDemand) {
    source.setOnDemand({ lingerMs: config.lingerMs ?? DEFAULT_LINGER_MS });
  }
  return source;
}

/** How long an on-demand source runs on after its last viewer left, unless configured. */
export const DEFAULT_LINGER_MS = 10_000;

function build(config: SourceConfig | SourceConfigInit): MediaSource {
  switch (config.kind) {
    case 'test':
      return new TestPatternSource(config.file ?? DEFAULT_TEST_CLIP, config.id);
    case 'rtp':
      return new RtpSource({
        id: config.id,
        codec: config.codec,
        port: config.port,
        host: config.host,
        payloadType: config.payloadType,
        offlineAfterMs: config.offlineAfterMs,
        profileLevelId: config.profileLevelId,
        ...(config.audioPort !== undefined ? { audio: { port: config.audioPort, payloadType: config.audioPayloadType } } : {}),
      });
    case 'rtsp':
      return new RtspSource({
        id: config.id,
        url: config.url,
        codec: config.codec,
        transport: config.transport,
        offlineAfterMs: config.offlineAfterMs,
        stallRestartMs: config.stallRestartMs,
        profileLevelId: config.profileLevelId,
        ffmpegPath: config.ffmpegPath,
        audio: config.audio,
      });
    case 'file':
      return new FileSource({
        id: config.id,
        path: config.path,
        loop: config.loop,
        container: config.container,
        profileLevelId: config.profileLevelId,
        ffmpegPath: config.ffmpegPath,
        audio: config.audio,
      });
    default:
      throw new Error(`unknown source kind: ${(config as { kind: unknown }).kind}`);
  }
}
