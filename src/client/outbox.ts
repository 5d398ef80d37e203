import { ChannelData, StreamingClientError } from './client-types.js';

/** Most messages (and bytes) `send` queues while the data channel is not open. */
const MAX_QUEUED_MESSAGES = 256;
const MAX_QUEUED_BYTES = 1024 * 1024;

/** The messages `ViewerSession.send` queued until the data channel opens, bounded. */
export class Outbox {
  private queued: ChannelData[] = [];
  private bytes = 0;

  get empty(): boolean {
    return this.queued.length === 0;
  }

  /** Queues a message; throws `QUEUE_FULL` past 256 messages or 1 MiB. */
  push(data: ChannelData): void {
    const bytes = typeof data === 'string' ? data.length * 3 : data.byteLength;
    if (this.queued.length >= MAX_QUEUED_MESSAGES || this.bytes + bytes > MAX_QUEUED_BYTES) {
      throw new StreamingClientError('QUEUE_FULL', 'too much queued while the data channel is not open');
    }
    this.queued.push(data);
    this.bytes += bytes;
  }

  /** Sends everything queued, in order, on the channel that just opened. */
  flush(ch: RTCDataChannel): void {
    const queued = this.queued.splice(0);
    this.bytes = 0;
    for (const data of queued) sendNow(ch, data);
  }

  clear(): void {
    this.queued = [];
    this.bytes = 0;
  }
}

export function sendNow(ch: RTCDataChannel, data: ChannelData): void {
  // RTCDataChannel.send is overloaded per type; each branch picks one.
  if (typeof data === 'string') ch.send(data);
  else if (data instanceof ArrayBuffer) ch.send(data);
  else ch.send(new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength));
}
