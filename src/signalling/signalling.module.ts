import { Module } from '@nestjs/common';
import { SignallingGateway } from './signalling.gateway';

/** The socket.io gateway. Needs `SessionService` from the importing context. */
@Module({ providers: [SignallingGateway] })
export class SignallingModule {}
