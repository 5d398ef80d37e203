import { DynamicModule, Module, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { MediaModule } from './media/media.module';
import { MediaSource } from './media/media-source';
import { MediaModuleOptions, SourceEntry } from './media/source-registry';
import { MetricsModule } from './metrics/metrics.module';
import { MetricsOptions } from './metrics/metrics.options';
import { SessionModule } from './session/session.module';
import { SessionOptions } from './session/session.options';
import { SignallingModule } from './signalling/signalling.module';
import { SignallingOptions } from './signalling/signalling.options';
import { StreamingHealthController, StreamingLifecycle } from './streaming.lifecycle';
import {
  STREAMING_MODULE_OPTIONS,
  StreamingModuleExtras,
  StreamingModuleOptions,
  StreamingSource,
} from './streaming.options';
import { WhepModule } from './whep/whep.module';
import { WhepOptions } from './whep/whep.options';

/**
 * The module options that are SessionOptions fields: an allow-list, so that a new
 * StreamingModule option never leaks into the sessions; the two checks below fail the
 * build when SessionOptions gains a field that is not listed here (or loses one that is).
 */
const SESSION_KEYS = [
  'iceServers',
  'announcedAddresses',
  'bindAddress',
  'portRange',
  'remoteAddressFilter',
  'connectTimeoutMs',
  'disconnectedGraceMs',
  'peerSilenceMs',
  'negotiationTimeoutMs',
  'maxSessionsPerClient',
  'maxSessions',
  'candidateCheckMs',
  'certificateRotationMs',
  'dataChannelPing',
  'sendPath',
  'mediaWorkers',
] as const satisfies readonly (keyof SessionOptions)[];
type Unlisted = Exclude<keyof SessionOptions, (typeof SESSION_KEYS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyFieldListed;

/** SessionOptions from the module options (unset fields keep their defaults). */
export function sessionOptionsOf(o: StreamingModuleOptions): SessionOptions {
  const fields = SESSION_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]);
  return SessionOptions.from(Object.fromEntries(fields) as Partial<SessionOptions>);
}

function signallingOptionsOf(o: StreamingModuleOptions): SignallingOptions {
  return SignallingOptions.from({
    gateway: o.gateway ?? {},
    authorize: o.authorize,
    clientIceServers: o.clientIceServers ?? o.iceServers ?? [],
    limits: o.limits ?? {},
  });
}

function isClass(s: StreamingSource): s is Type<MediaSource> {
  return typeof s === 'function';
}

/**
 * The media options: the default source is the first entry when it is an instance or a
 * class (Nest instantiates classes, which may inject the host's providers), else the test
 * pattern; the rest are the registry's named sources.
 */
async function mediaOptionsOf(o: StreamingModuleOptions, moduleRef: ModuleRef): Promise<MediaModuleOptions> {
  const all = o.sources ?? [];
  const first = all[0];
  const hasDefault = first instanceof MediaSource || (first !== undefined && isClass(first));
  const build = async (s: StreamingSource): Promise<SourceEntry> => (isClass(s) ? moduleRef.create(s) : s);
  const source = hasDefault ? ((await build(first)) as MediaSource) : undefined;
  const sources: SourceEntry[] = [];
  for (const s of hasDefault ? all.slice(1) : all) sources.push(await build(s));
  return { source, sources, defaultSource: o.defaultSource };
}

/** Holds one StreamingModule's options (and the imports its async factory injects from). */
@Module({})
export class StreamingOptionsModule {}

/** Health endpoints and graceful shutdown (see StreamingLifecycle). */
@Module({ providers: [StreamingLifecycle], exports: [StreamingLifecycle] })
export class StreamingLifecycleModule {}

/**
 * The `StreamingModule` a `forRoot`/`forRootAsync` call makes (the builder's extras
 * transform): the options module, then one instance each of the media, session,
 * signalling, WHEP and metrics modules, each importing what it uses and mapping the
 * StreamingModule options to its own. Every provider is declared in its own module.
 *
 * Shutdown order follows depth (Nest destroys importers before what they import): the
 * lifecycle module imports the sessions, which import the media, so the sessions are
 * drained (clients told `server-shutdown`) before any source stops.
 */
export function composeStreamingModule(definition: DynamicModule, extras: StreamingModuleExtras): DynamicModule {
  const options: DynamicModule = {
    module: StreamingOptionsModule,
    imports: definition.imports ?? [],
    providers: definition.providers ?? [],
    // The factory's imports too: class sources are built by Nest and may inject from them.
    exports: [STREAMING_MODULE_OPTIONS, ...((definition.imports ?? []) as NonNullable<DynamicModule['exports']>)],
  };
  const from = <T>(map: (o: StreamingModuleOptions) => T) => ({ imports: [options], inject: [STREAMING_MODULE_OPTIONS], useFactory: map });
  const media = MediaModule.register({ imports: [options], inject: [STREAMING_MODULE_OPTIONS, ModuleRef], useFactory: mediaOptionsOf });
  const session = SessionModule.register({ ...from(sessionOptionsOf), media });
  const signalling = SignallingModule.register({ ...from(signallingOptionsOf), imports: [options, session] });
  const whep = WhepModule.register({ ...from((o) => WhepOptions.from(o.whep)), imports: [options, session, signalling] });
  const metrics = MetricsModule.register({ ...from((o) => MetricsOptions.from(o.metrics)), imports: [options, session, media] });
  const lifecycle: DynamicModule = {
    module: StreamingLifecycleModule,
    imports: [session],
    controllers: extras.health === false ? [] : [StreamingHealthController],
  };
  const parts = [lifecycle, media, session, signalling, whep, metrics];
  return {
    module: definition.module,
    global: extras.isGlobal,
    imports: [options, ...parts],
    exports: [options, ...parts],
  };
}
