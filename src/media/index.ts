export * from './media-source';
export * from './media.module';
export * from './source-registry';
export * from './source-config';
export { createSource } from './create-source';
export { codecForOffer, codecDescription, h264Profile, videoCodecsOf } from './codecs';
export type { H264Profile, SdpCodec } from './codecs';
export { TestPatternSource, DEFAULT_TEST_CLIP } from './test-pattern.source';
export * from './sources';
