import { IceRestartEvent } from './client-types.js';

/** How long an ICE restart may take before the session restarts instead (ms). */
const ICE_RESTART_TIMEOUT_MS = 8_000;

/** What the ICE watch needs from its session. */
export interface IceHost {
  /** The current peer connection (a session restart replaces it). */
  readonly pc: RTCPeerConnection;
  /** Whether the session can restart ICE now: it has a server session and is neither closed nor reconnecting. */
  canRestart(): boolean;
  /** Makes a local change and offers it (see ViewerSession.offerChange). */
  offerChange(change: () => boolean): Promise<void>;
  /** ICE could not be brought back: restart the whole session (or close it). */
  lost(reason: string): void;
  announce(ev: IceRestartEvent): void;
}

/**
 * Watches the connection state and restarts ICE in place. `disconnected` often heals by
 * itself (consent checks resume): restart ICE only when it lasts. `failed` restarts ICE at
 * once. A restart that does not bring the connection back in time restarts the whole session.
 */
export class IceWatch {
  private timer?: ReturnType<typeof setTimeout>;
  private restarting = false;

  constructor(
    /** `iceRestartAfterMs`: how long `disconnected` may last; false: never restart ICE. */
    private readonly after: number | false,
    private readonly host: IceHost,
  ) {}

  onConnectionState(s: RTCPeerConnectionState): void {
    if (s === 'connected') {
      this.clear();
      this.restarting = false;
    } else if (s === 'disconnected' && this.after !== false && !this.timer && !this.restarting) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.host.pc.connectionState === 'disconnected') void this.restart('disconnected');
      }, this.after);
    } else if (s === 'failed') {
      this.clear();
      if (this.after === false || this.restarting) this.host.lost('ice-failed');
      else void this.restart('failed');
    }
  }

  async restart(trigger: IceRestartEvent['trigger']): Promise<void> {
    if (!this.host.canRestart()) return;
    this.restarting = true;
    this.host.announce(new IceRestartEvent(trigger));
    const pc = this.host.pc;
    try {
      await this.host.offerChange(() => {
        pc.restartIce();
        return true;
      });
    } catch (err) {
      console.warn('ICE restart refused', err);
      if (this.host.pc === pc) this.host.lost('ice-failed');
      return;
    }
    this.clear();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.host.pc === pc && pc.connectionState !== 'connected') this.host.lost('ice-failed');
    }, ICE_RESTART_TIMEOUT_MS);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
