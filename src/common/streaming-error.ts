import { ErrorCode } from '../protocol';

/** An error meant for the client: its code and message travel in the ack. */
export class StreamingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StreamingError';
  }
}
