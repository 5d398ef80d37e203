import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { createSource } from './create-source';
import { MediaSource, SourceInfo } from './media-source';
import { SourceConfig, SourceConfigInit, parseSourceConfigs } from './source-config';

/** A source as given to `MediaModule.forRoot`: a configuration, or an instance built in code. */
export type SourceEntry = SourceConfig | SourceConfigInit | MediaSource;

/** The `sources` option of `MediaModule.forRoot` (and of an application module that forwards it). */
export type SourcesOption = SourceEntry[];

export interface MediaModuleOptions {
  /** The `MediaSource` provider, the default source (default: the built-in test pattern, id `test`). */
  source?: MediaSource;
  /** Named sources besides the default one (id `test`, the `MediaSource` provider). */
  sources?: SourcesOption;
  /** Id of the source `session:start` uses when it names none (default: the `MediaSource` provider). */
  defaultSource?: string;
}

/** Injection token of the `MediaModuleOptions` (provided by `MediaModule.forRoot`). */
export const MEDIA_MODULE_OPTIONS = Symbol('MEDIA_MODULE_OPTIONS');

/**
 * Every media source by id: the default one (the `MediaSource` provider, which Nest starts
 * and stops itself) and the named ones from the configuration or from code, which the
 * registry builds, starts on module init and stops on destroy (every ffmpeg child and UDP
 * socket released). Sessions resolve `session:start { source }` here.
 */
@Injectable()
export class MediaSourceRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger(MediaSourceRegistry.name);
  private readonly sources = new Map<string, MediaSource>();
  /** The named sources, which the registry starts and stops. */
  private readonly owned: MediaSource[] = [];
  private readonly started = new Set<MediaSource>();
  private readonly defaultId: string;

  constructor(
    readonly defaultSource: MediaSource,
    @Optional() @Inject(MEDIA_MODULE_OPTIONS) options?: MediaModuleOptions,
  ) {
    this.sources.set(defaultSource.id, defaultSource);
    const entries = options?.sources ?? [];
    const configs = entries.filter((e): e is SourceConfig => !(e instanceof MediaSource));
    // One error listing every problem; the default source's id is taken.
    parseSourceConfigs(configs, 'sources', [defaultSource.id]);
    for (const entry of entries) {
      const source = entry instanceof MediaSource ? entry : createSource(entry);
      if (this.sources.has(source.id)) throw new Error(`two media sources have the id "${source.id}"`);
      this.sources.set(source.id, source);
      this.owned.push(source);
    }
    this.defaultId = options?.defaultSource ?? defaultSource.id;
    if (!this.sources.has(this.defaultId)) {
      throw new Error(`defaultSource "${this.defaultId}" names no source (known: ${this.ids().join(', ')})`);
    }
  }

  async onModuleInit(): Promise<void> {
    const results = await Promise.allSettled(
      this.owned.map(async (s) => {
        await s.onModuleInit();
        this.started.add(s);
      }),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${this.owned[i].id}: ${(r.reason as Error).message}`] : []));
    if (failed.length) {
      // Do not leave the others running behind a failed start.
      await this.onModuleDestroy();
      throw new Error(`media sources failed to start:\n  - ${failed.join('\n  - ')}`);
    }
    if (this.owned.length) this.log.log(`sources: ${this.list().map((s) => `${s.id} (${s.kind}, ${s.codec})`).join(', ')}`);
  }

  async onModuleDestroy(): Promise<void> {
    const running = this.owned.filter((s) => this.started.has(s));
    this.started.clear();
    await Promise.allSettled(
      running.map((s) => s.onModuleDestroy().catch((err: Error) => this.log.warn(`${s.id}: stop failed: ${err.message}`))),
    );
  }

  /** The source with this id (the default one when `id` is undefined), or undefined. */
  get(id?: string): MediaSource | undefined {
    return this.sources.get(id ?? this.defaultId);
  }

  ids(): string[] {
    return [...this.sources.keys()];
  }

  /** `{ id, kind, codec, state, viewers }` of every source, the default first. */
  list(): SourceInfo[] {
    return [...this.sources.values()].map((s) => s.info());
  }
}
