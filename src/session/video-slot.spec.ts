import { afterFailedResume, offReason, remoteOfferPlan, RemoteVideoView, resumePlan, SlotTransceiver, stopPlan, VideoSlot, wantsVideo } from './video-slot';

/** A transceiver as the state machine sees it: no werift, no sockets. */
function tx(mid: string, direction = 'sendonly', stopped = false): SlotTransceiver {
  return { mid, direction, stopped, stopping: false };
}
type Slot = VideoSlot<SlotTransceiver, string, string>;
const live = (t: SlotTransceiver): Slot => ({ kind: 'live', transceiver: t, track: 'track', feed: 'feed' });

function view(over: Partial<RemoteVideoView<SlotTransceiver>> = {}): RemoteVideoView<SlotTransceiver> {
  return { rejected: () => false, receives: () => true, sourceEnded: false, fresh: () => undefined, ...over };
}

describe('video slot', () => {
  const how = (owns: boolean, renegotiation = true) => ({ renegotiation, ownsTransport: () => owns });

  it('stop: parks the BUNDLE-tag m-line, rejects any other, and is a no-op once off or parked', () => {
    const t = tx('0');
    expect(stopPlan(live(t), 'video-stopped', how(true))).toEqual({
      next: { kind: 'parked', transceiver: t, by: 'server', reason: 'video-stopped' },
      mline: 'park',
    });
    expect(stopPlan(live(t), 'source-ended', how(false))).toEqual({ next: { kind: 'off', reason: 'source-ended' }, mline: 'stop' });
    expect(stopPlan({ kind: 'off', reason: 'video-stopped' }, 'video-stopped', how(false))).toBeUndefined();
    expect(stopPlan({ kind: 'parked', transceiver: t, by: 'client', reason: 'video-stopped' }, 'video-stopped', how(true))).toBeUndefined();
    // A stopped transceiver: nothing to do to the m-line.
    expect(stopPlan(live(tx('0', 'sendonly', true)), 'video-stopped', how(true))?.mline).toBe('keep');
  });

  it('stop without server offers (WHEP) keeps the m-line as it is, and resumes on it in place', () => {
    const t = tx('0');
    const stop = stopPlan(live(t), 'video-stopped', how(true, false))!;
    expect(stop).toEqual({ next: { kind: 'parked', transceiver: t, by: 'in-place', reason: 'video-stopped' }, mline: 'keep' });
    expect(resumePlan(stop.next, { renegotiation: false, receives: () => true })).toEqual({ do: 'in-place', transceiver: t });
    expect(resumePlan(live(t), { renegotiation: false, receives: () => true })).toEqual({ do: 'nothing' });
  });

  it('resume: nothing while live and received; reuses a parked m-line; else a new one', () => {
    const t = tx('0');
    const receives = { renegotiation: true, receives: () => true };
    expect(resumePlan(live(t), receives)).toEqual({ do: 'nothing' });
    expect(resumePlan({ kind: 'parked', transceiver: tx('0', 'inactive'), by: 'server', reason: 'video-stopped' }, receives)).toEqual({
      do: 'negotiate',
      reuse: expect.objectContaining({ mid: '0' }),
    });
    expect(resumePlan({ kind: 'off', reason: 'video-stopped' }, receives)).toEqual({ do: 'negotiate', reuse: undefined });
    expect(resumePlan({ kind: 'adding' }, receives)).toEqual({ do: 'negotiate', reuse: undefined });
  });

  it('a failed resume leaves the video as it was; a codec the client cannot decode becomes the reason', () => {
    const parked: Slot = { kind: 'parked', transceiver: tx('0', 'inactive'), by: 'server', reason: 'source-ended' };
    expect(afterFailedResume(parked, false)).toEqual(parked);
    expect(afterFailedResume({ kind: 'adding' }, true)).toEqual({ kind: 'off', reason: 'codec-not-supported' });
    expect(afterFailedResume({ kind: 'off', reason: 'video-stopped' }, false)).toEqual({ kind: 'off', reason: 'video-stopped' });
  });

  it('client offers: its reject turns the video off; its inactive parks it; its receive again resumes its own stop only', () => {
    const t = tx('0');
    expect(remoteOfferPlan(live(t), view({ rejected: () => true }))).toEqual({
      next: { kind: 'off', reason: 'video-stopped' },
      detach: true,
    });
    expect(remoteOfferPlan(live(t), view({ receives: () => false }))).toEqual({
      next: { kind: 'parked', transceiver: t, by: 'client', reason: 'video-stopped' },
      detach: true,
      park: t,
    });
    const inactive = tx('0', 'inactive');
    const byClient: Slot = { kind: 'parked', transceiver: inactive, by: 'client', reason: 'video-stopped' };
    expect(remoteOfferPlan(byClient, view())).toEqual({ unpark: inactive });
    expect(remoteOfferPlan({ ...byClient, by: 'server' }, view())).toEqual({});
    expect(remoteOfferPlan(byClient, view({ sourceEnded: true }))).toEqual({});
    expect(remoteOfferPlan(live(t), view())).toEqual({});
  });

  it('client offers: a new recvonly m-line after a stop is adopted (not once the source ended)', () => {
    const fresh = tx('2', 'recvonly');
    const off: Slot = { kind: 'off', reason: 'video-stopped' };
    expect(remoteOfferPlan(off, view({ fresh: () => fresh }))).toEqual({ adopt: fresh });
    expect(remoteOfferPlan(off, view({ fresh: () => fresh, sourceEnded: true }))).toEqual({});
    // The old m-line rejected and a new one offered in the same offer.
    expect(remoteOfferPlan(live(tx('0')), view({ rejected: (x) => x.mid === '0', fresh: () => fresh }))).toEqual({
      next: { kind: 'off', reason: 'video-stopped' },
      detach: true,
      adopt: fresh,
    });
  });

  it('wanted and off reasons follow the kind', () => {
    expect(wantsVideo({ kind: 'adding' })).toBe(true);
    expect(wantsVideo(live(tx('0')))).toBe(true);
    expect(wantsVideo({ kind: 'off', reason: 'video-stopped' })).toBe(false);
    expect(offReason({ kind: 'parked', transceiver: tx('0'), by: 'server', reason: 'source-ended' })).toBe('source-ended');
    expect(offReason(live(tx('0')))).toBeUndefined();
  });
});
