import { EventEmitter } from 'node:events';
import type { RtpPacket } from 'werift';

/** Receives a source's RTP packets. Must not keep the packet beyond the call. */
export type MediaSink = (packet: RtpPacket) => void;

/**
 * One viewer's feed from a source. `stop()` is idempotent: it marks the track ended, emits
 * `ended` once (with the reason), and drops every listener. The source stops its tracks
 * when it ends; a session stops its track when it stops its video.
 */
export class SourceTrack extends EventEmitter<{ ended: [reason: string] }> {
  private _ended = false;
  private _reason?: string;

  constructor(
    readonly sourceId: string,
    /** @internal the source's fan-out calls this */
    readonly sink: MediaSink,
  ) {
    super();
  }

  get ended(): boolean {
    return this._ended;
  }

  get readyState(): 'live' | 'ended' {
    return this._ended ? 'ended' : 'live';
  }

  /** Why the track ended, once it has. */
  get reason(): string | undefined {
    return this._reason;
  }

  stop(reason = 'stopped'): void {
    if (this._ended) return;
    this._ended = true;
    this._reason = reason;
    this.emit('ended', reason);
    this.removeAllListeners();
  }
}
