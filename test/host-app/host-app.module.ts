/*
 * An example host application: a Nest backend of its own (a config provider, its own
 * socket.io gateway on the default namespace) that imports StreamingModule from the
 * package's entry point with forRootAsync, supplies its own media source and auth hook,
 * and talks to viewers over the data channel.
 */
import { Injectable, Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Vp8Packetizer } from 'werift';
import { MediaSource, SessionService, StreamingHandshake, StreamingModule } from '../../src';
import { LOOPBACK_ONLY } from '../helpers/app';

/** The host's own configuration (it would read it from its config service). */
@Injectable()
export class HostConfig {
  readonly namespace = '/streaming';
  readonly tokens = new Set(['valid-token']);
  readonly clientIceServers = [{ urls: 'turn:turn.example.invalid:3478', username: 'u', credential: 'p' }];
}

@Module({ providers: [HostConfig], exports: [HostConfig] })
export class HostConfigModule {}

/** The host's own media source: synthetic VP8 frames, 30 per second; it injects a host provider. */
@Injectable()
export class CameraSource extends MediaSource {
  readonly id = 'camera';
  readonly kind = 'synthetic-camera';
  readonly codec = 'VP8' as const;
  private readonly packetizer = new Vp8Packetizer({ payloadType: 96 });
  private timer?: NodeJS.Timeout;
  private frameNo = 0;
  private rtpTimestamp = 0;

  constructor(readonly config: HostConfig) {
    super();
  }

  protected start(): void {
    this.timer = setInterval(() => this.frame(), 33);
    this.frame();
  }

  protected stop(): void {
    clearInterval(this.timer);
  }

  private frame(): void {
    const n = this.frameNo++;
    const keyframe = n % 30 === 0;
    const data = Buffer.alloc(keyframe ? 3000 : 400, n & 0xff);
    data[0] = keyframe ? 0x10 : 0x11; // bit 0 clear on a VP8 keyframe
    const packets = this.packetizer.packetize(data, this.rtpTimestamp);
    this.rtpTimestamp = (this.rtpTimestamp + 3000) >>> 0;
    packets.forEach((p, i) => this.publish(p, keyframe && i === 0));
  }
}

/** The host's own gateway, on the default namespace of the same socket.io server. */
@WebSocketGateway()
export class HostGateway {
  @SubscribeMessage('host:hello')
  hello(): { ok: true; from: string } {
    return { ok: true, from: 'host' };
  }
}

/** The host reacting to viewers' data-channel messages, and talking to them. */
@Injectable()
export class HostChat implements OnModuleInit, OnModuleDestroy {
  readonly received: { sessionId: string; data: string }[] = [];
  readonly handshakes: StreamingHandshake[] = [];
  private readonly onMessage = (_owner: string, m: { sessionId: string; data: string }) => {
    this.received.push(m);
    if (m.data === 'hello host') this.sessions.send(m.sessionId, `welcome ${m.sessionId}`);
  };

  constructor(private readonly sessions: SessionService) {}

  onModuleInit(): void {
    this.sessions.events.on('message', this.onMessage);
  }

  onModuleDestroy(): void {
    this.sessions.events.off('message', this.onMessage);
  }

  announce(text: string): number {
    return this.sessions.broadcast('camera', text);
  }
}

@Module({
  imports: [
    HostConfigModule,
    StreamingModule.forRootAsync({
      isGlobal: true,
      imports: [HostConfigModule],
      inject: [HostConfig],
      useFactory: (config: HostConfig) => ({
        ...LOOPBACK_ONLY,
        gateway: { namespace: config.namespace },
        clientIceServers: config.clientIceServers,
        sources: [CameraSource],
        maxSessionsPerClient: 2,
        authorize: async (handshake: StreamingHandshake) => {
          authorizeCalls.push(handshake);
          return config.tokens.has(String(handshake.auth.token)) ? true : { allow: false as const, reason: 'invalid token' };
        },
      }),
    }),
  ],
  providers: [HostGateway, HostChat],
})
export class HostAppModule {}

/** Every handshake the auth hook saw (for the test). */
export const authorizeCalls: StreamingHandshake[] = [];
