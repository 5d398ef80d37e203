import type { RTCRtpTransceiver } from 'werift';
import { PEER_CONFIRM_TIMEOUT_MS, SenderReadyWait } from './video-feed';

/** A transceiver as SenderReadyWait reads it: the sender's readiness, its onReady, its DTLS transport. */
function fakeTransceiver(opts: { ready: boolean; confirmed?: boolean }) {
  const readyListeners = new Set<() => void>();
  const dtls = { peerConfirmed: opts.confirmed ?? false, onPeerConfirmed: new Set<() => void>() };
  const state = { ready: opts.ready };
  const sender = {
    canSendRtp: () => state.ready,
    dtlsTransport: dtls,
    onReady: {
      subscribe: (fn: () => void) => {
        readyListeners.add(fn);
        return { unSubscribe: () => readyListeners.delete(fn) };
      },
    },
  };
  return {
    transceiver: { sender } as unknown as RTCRtpTransceiver,
    dtls,
    readyListeners,
    becomeReady() {
      state.ready = true;
      for (const fn of [...readyListeners]) fn();
    },
    confirm() {
      dtls.peerConfirmed = true;
      for (const fn of [...dtls.onPeerConfirmed]) fn();
      dtls.onPeerConfirmed.clear();
    },
  };
}

describe('SenderReadyWait', () => {
  afterEach(() => jest.useRealTimers());

  it('with SCTP on the transport: waits for the sender, then for the peer to confirm', () => {
    const t = fakeTransceiver({ ready: false });
    const wait = new SenderReadyWait(() => true);
    const fn = jest.fn();
    expect(wait.mustWait(t.transceiver)).toBe(true);
    wait.until(t.transceiver, fn);
    t.becomeReady();
    expect(fn).not.toHaveBeenCalled();
    expect(wait.mustWait(t.transceiver)).toBe(true);
    t.confirm();
    expect(fn).toHaveBeenCalledTimes(1);
    expect(wait.mustWait(t.transceiver)).toBe(false);
    expect(t.readyListeners.size).toBe(0);
  });

  it('without SCTP: only the sender is waited for (a WHEP player need send nothing first)', () => {
    const t = fakeTransceiver({ ready: false });
    const wait = new SenderReadyWait(() => false);
    const fn = jest.fn();
    wait.until(t.transceiver, fn);
    t.becomeReady();
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('a sender already ready with nothing to wait for: fn waits for the next onReady, never runs inside until()', () => {
    // The audio calls until() while the connection is still connecting, its sender ready: a
    // call from inside until() would recurse through its refresh.
    const t = fakeTransceiver({ ready: true });
    const wait = new SenderReadyWait(() => false);
    const fn = jest.fn();
    wait.until(t.transceiver, fn);
    expect(fn).not.toHaveBeenCalled();
    t.becomeReady();
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it(`a peer that shows nothing within ${PEER_CONFIRM_TIMEOUT_MS} ms is sent to anyway, and not waited for again`, () => {
    jest.useFakeTimers();
    const t = fakeTransceiver({ ready: true });
    const wait = new SenderReadyWait(() => true);
    const fn = jest.fn();
    expect(wait.mustWait(t.transceiver)).toBe(true);
    wait.until(t.transceiver, fn);
    jest.advanceTimersByTime(PEER_CONFIRM_TIMEOUT_MS - 1);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(t.dtls.onPeerConfirmed.size).toBe(0);
    expect(wait.mustWait(t.transceiver)).toBe(false);
  });

  it('dispose() drops the wait: nothing is called later', () => {
    jest.useFakeTimers();
    const t = fakeTransceiver({ ready: true });
    const wait = new SenderReadyWait(() => true);
    const fn = jest.fn();
    wait.until(t.transceiver, fn);
    wait.dispose();
    t.confirm();
    jest.advanceTimersByTime(PEER_CONFIRM_TIMEOUT_MS * 2);
    expect(fn).not.toHaveBeenCalled();
  });
});
