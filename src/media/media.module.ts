import { Module } from '@nestjs/common';
import { MediaSource } from './media-source';
import { TestPatternSource } from './test-pattern.source';

/**
 * Provides the `MediaSource` token. The default is the built-in looping test pattern;
 * override the provider to stream something else.
 */
@Module({
  providers: [{ provide: MediaSource, useFactory: () => new TestPatternSource() }],
  exports: [MediaSource],
})
export class MediaModule {}
