import { Module } from '@nestjs/common';
import { StreamingConfigurableModule } from './streaming.module-definition';

export { sessionOptionsOf } from './streaming.graph';

/**
 * Live video to browsers over WebRTC, for any Nest application: the socket.io signalling
 * gateway, the werift sessions, the media sources, health endpoints and a graceful
 * shutdown. Configure it with `forRoot(options)` or `forRootAsync({ useFactory, inject })`;
 * it never reads `process.env`. What each call builds: `composeStreamingModule`
 * (streaming.graph.ts).
 */
@Module({})
export class StreamingModule extends StreamingConfigurableModule {}
