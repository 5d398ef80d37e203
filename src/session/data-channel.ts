import type { RTCDataChannel } from 'werift';

/**
 * The session's one data channel: messages in (text, binary, the optional ping echo) and
 * out. The first channel the peer connection gets is the session's; later ones are ignored.
 */
export class SessionDataChannel {
  private channel?: RTCDataChannel;

  constructor(
    private readonly handlers: {
      message(data: string): void;
      binary?(data: Buffer): void;
      /** Answer `ping` on the channel itself (see `pingReply`). */
      ping: boolean;
    },
  ) {}

  /** Takes the channel; returns what to call to stop listening, or undefined when one is already attached. */
  attach(channel: RTCDataChannel): (() => void) | undefined {
    if (this.channel) return undefined;
    this.channel = channel;
    const sub = channel.onMessage.subscribe((data) => {
      if (typeof data !== 'string') return this.handlers.binary?.(data);
      this.handlers.message(data);
      if (this.handlers.ping) {
        const reply = pingReply(data);
        if (reply !== undefined) this.send(reply);
      }
    });
    return () => sub.unSubscribe();
  }

  /** Sends a text (or binary) message; false when the channel is not open. */
  send(data: string | Buffer): boolean {
    if (this.channel?.readyState !== 'open') return false;
    this.channel.send(data);
    return true;
  }
}

/** `ping` -> `pong`; `{"type":"ping","id":X}` -> `{"type":"pong","id":X}`; anything else: no reply. */
export function pingReply(text: string): string | undefined {
  if (text === 'ping') return 'pong';
  if (text.length > 4096 || !text.startsWith('{')) return undefined;
  try {
    const msg = JSON.parse(text) as { type?: unknown; id?: unknown };
    if (msg && typeof msg === 'object' && msg.type === 'ping') return JSON.stringify({ type: 'pong', id: msg.id });
  } catch {
    // Not JSON: not a ping.
  }
  return undefined;
}
