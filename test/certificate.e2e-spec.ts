import { dtlsCertificates } from '../src/werift';
import { appPerTest } from './helpers/app';
import { WeriftViewer, ok } from './helpers/werift-viewer';

/**
 * One DTLS certificate per process: every answer carries its fingerprint. (This file
 * imports src/werift before anything else loads werift, which once left werift's index
 * without some exports: see weriftModule.)
 */
describe('the process DTLS certificate', () => {
  const fx = appPerTest<WeriftViewer>();
  const { viewers } = fx;

  const fingerprint = (sdp: string) => /a=fingerprint:sha-256 (\S+)/.exec(sdp)?.[1];

  it('is the same in every session, and renewing it changes new sessions only', async () => {
    const expected = (await dtlsCertificates.renew()).getFingerprints()[0].value;
    const start = async () => {
      const v = new WeriftViewer(await fx.t.connect());
      viewers.push(v);
      await v.startWithOffer();
      await v.waitForPackets(1);
      return v;
    };
    const [a, b] = [await start(), await start()];
    expect(fingerprint(a.pc.remoteDescription!.sdp)).toBe(expected);
    expect(fingerprint(b.pc.remoteDescription!.sdp)).toBe(expected);

    const renewed = (await dtlsCertificates.renew()).getFingerprints()[0].value;
    expect(renewed).not.toBe(expected);
    const c = await start();
    expect(fingerprint(c.pc.remoteDescription!.sdp)).toBe(renewed);
    // The first session keeps its certificate through a renegotiation (stop the video).
    const offer = a.nextServerOffer();
    await ok(a.socket, 'session:stop-video', { sessionId: a.sessionId });
    expect(fingerprint(await offer)).toBe(expected);
  });
});
