import { weriftModule } from '../werift-lib';
import { WeriftFix, wrapMethod } from './fix';

const wake = Symbol('wakeScheduling');

/** Ta, werift's pacing of ordinary checks (RFC 8445 6.1.4.2, 14.2). */
const PACING_MS = 20;

interface Pair {
  handle?: { resolve?: () => void };
}
interface Connection {
  iceLite: boolean;
  state: string;
  localCandidatesEnd: boolean;
  localCandidatesStart: boolean;
  remoteUsername?: string;
  remotePassword?: string;
  remoteCandidates: unknown[];
  checkList: Pair[];
  checkListDone: boolean;
  checkListState: { get(): Promise<number> };
  earlyChecks: unknown[][];
  earlyChecksDone: boolean;
  pairRemoteCandidate(c: unknown): void;
  sortCheckList(): void;
  unfreezeInitial(): void;
  checkIncoming(...a: unknown[]): void;
  schedulingChecks(): boolean;
  queryConsent(): void;
  setState(s: string): void;
  [wake]?: () => void;
}

/** Waits one pacing interval, or less if the check list completes meanwhile. */
function paced(connection: Connection): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      connection[wake] = undefined;
      resolve();
    };
    const timer = setTimeout(done, PACING_MS);
    connection[wake] = done;
  });
}

/**
 * werift's ICE agent reported connected only when its check scheduler next woke up: its
 * `connect()` runs one ordinary check, sleeps 20 ms (the pacing interval), and only then
 * looks whether the check list completed. A pair nominated in the meantime, such as the
 * browser's USE-CANDIDATE check answered by our triggered check a few milliseconds
 * after the sleep began, waited out the rest of it: up to 20 ms before DTLS could start,
 * on every join, while the browser's ClientHello was already waiting. The pacing stays
 * (it spaces out ordinary checks), but the wait now ends the moment the check list
 * completes, and the agent reports connected at the nomination itself.
 *
 * `connect()` is werift 0.25's own, line for line, with the pacing sleep made wakeable;
 * ICE-lite agents (no checks of their own) keep werift's.
 */
export const iceConnectedAtNomination: WeriftFix = {
  name: 'ice-connected-at-nomination',
  apply() {
    const { Connection } = weriftModule('ice/src/ice.js');
    const { ICE_COMPLETED, ICE_FAILED } = weriftModule('ice/src/iceBase.js') as { ICE_COMPLETED: number; ICE_FAILED: number };
    if (typeof ICE_COMPLETED !== 'number' || typeof ICE_FAILED !== 'number') throw new Error('ICE_COMPLETED is missing');
    wrapMethod(Connection.prototype, 'checkComplete', (original) =>
      function (this: Connection, ...args: unknown[]) {
        const result = original.apply(this, args);
        if (this.checkListDone) this[wake]?.();
        return result;
      },
    );
    wrapMethod(Connection.prototype, 'connect', (original) =>
      async function (this: Connection, ...args: unknown[]) {
        if (this.iceLite) return original.apply(this, args);
        if (!this.localCandidatesEnd && !this.localCandidatesStart) throw new Error('Local candidates gathering was not performed');
        if (!this.remoteUsername || !this.remotePassword) throw new Error('Remote username or password is missing');
        // 5.7.1. Forming Candidate Pairs
        for (const c of this.remoteCandidates) this.pairRemoteCandidate(c);
        this.sortCheckList();
        this.unfreezeInitial();
        for (const check of this.earlyChecks) this.checkIncoming(...check);
        this.earlyChecks = [];
        this.earlyChecksDone = true;
        // 5.8. Scheduling Checks
        for (;;) {
          if (this.state === 'closed') break;
          if (!this.schedulingChecks()) break;
          await paced(this);
        }
        // Wait for completion.
        let res = ICE_FAILED;
        while (this.checkList.length > 0 && res === ICE_FAILED) res = await this.checkListState.get();
        // Cancel the remaining checks.
        for (const check of this.checkList) check.handle?.resolve?.();
        if (res !== ICE_COMPLETED) throw new Error('ICE negotiation failed');
        // Start consent freshness tests.
        this.queryConsent();
        this.setState('connected');
      },
    );
  },
};
