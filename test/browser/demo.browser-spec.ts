/**
 * The demo page in real headless Chromium and Firefox against the real application (on
 * loopback for Chromium, on Firefox's private veth pair for Firefox; see helpers/browser.ts).
 */
import { mediaPermissionCalls, describeEachBrowser, until } from '../helpers/browser';
import { DemoWindow, useDemoPage } from '../helpers/browser-app';

jest.setTimeout(60_000);

describeEachBrowser('the demo page', (browserName) => {
  const fx = useDemoPage(browserName);
  const { openDemo, waitForStreaming, badge, selectedPair, pingFromPage, waitForBadge, expectDataOnly, expectStreamingAgain, expectNoProblems } = fx;

  describe.each([
    ['the browser offers (default)', ''],
    ['the server offers (?offerer=server)', '&offerer=server'],
  ])('when %s', (_name, query) => {
    it('decodes the 640x360 test pattern, shows `streaming` and asks for no permission', async () => {
      const page = await openDemo(query);
      await waitForStreaming(page);
      await page.waitForFunction(
        () => {
          const d = (window as unknown as DemoWindow).demo;
          const v = document.querySelector('video')!;
          return d.frames > 30 && v.videoWidth > 0;
        },
        undefined,
        { timeout: 20_000, polling: 100 },
      );
      const seen = await page.evaluate(() => {
        const v = document.querySelector('video')!;
        const d = (window as unknown as DemoWindow).demo;
        return { w: v.videoWidth, h: v.videoHeight, frames: d.frames, error: d.error, paused: v.paused };
      });
      expect(seen).toMatchObject({ w: 640, h: 360, error: null, paused: false });
      expect(seen.frames).toBeGreaterThan(30);
      expect(await badge(page)).toBe('streaming');
      expect(await page.getAttribute('#state', 'data-state')).toBe('streaming');
      expect(fx.sessions.count).toBe(1);
      // ICE stayed on the test addresses: the browser's only remote candidate is the server's
      // (Chromium: 127.0.0.1, and the pair runs 127.0.0.1 <-> 127.0.0.1, Chromium's side
      // peer-reflexive; Firefox: its veth address to the server's end of the pair).
      const ice = await selectedPair(page);
      expect(ice.remotes.length).toBeGreaterThan(0);
      expect(ice.remotes.every((a) => a === fx.browser.serverHost)).toBe(true);
      expect(ice.selected).toEqual({ local: fx.browser.browserAddress, remote: fx.browser.serverHost });

      // No permission was asked for: the probe saw no capture call and no permission query.
      expect(mediaPermissionCalls(fx.ctx.permissionCalls)).toEqual([]);
      expect(fx.ctx.permissionCalls).toEqual([]);
      expectNoProblems();
    });
  });

  it('the permission probe does record a capture request (self-test)', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    // Firefox exposes no navigator.mediaDevices on this origin (http on a non-loopback
    // address is not a secure context): there the page cannot even ask.
    const canCapture = await page.evaluate(() => !!navigator.mediaDevices);
    expect(canCapture).toBe(browserName === 'chromium');
    await page.evaluate(async () => {
      await navigator.permissions.query({ name: 'camera' as PermissionName }).catch(() => undefined);
      // Empty constraints are rejected at once, before any prompt (a real request would leave
      // a pending prompt behind that keeps Chromium from exiting promptly).
      await navigator.mediaDevices?.getUserMedia({}).catch(() => undefined);
    });
    const expected = ['permissions.query', ...(canCapture ? ['mediaDevices.getUserMedia'] : [])];
    await until('probe calls', () => fx.ctx.permissionCalls.length >= expected.length, 5_000);
    expect(mediaPermissionCalls(fx.ctx.permissionCalls).map((c) => c.api)).toEqual(expected);
  });

  it('sends `ping` on the data channel from the page and shows the `pong`', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    // The server reports `streaming` once DTLS is up; SCTP may open a moment later.
    await page.waitForFunction(
      () => (window as unknown as DemoWindow).demo.session?.channel?.readyState === 'open',
      undefined,
      { timeout: 10_000, polling: 50 },
    );
    await page.click('#dataPanel summary'); // the data-channel box is folded away
    await page.fill('#message', 'ping');
    await page.click('#send');
    for (const line of ['> ping', '< pong']) {
      await page.waitForFunction((l) => document.getElementById('log')?.textContent?.includes(l), line, { timeout: 5_000 });
    }
    expectNoProblems();
  });

  it('Hang up closes the session on the server and shows `closed`', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    expect(fx.sessions.count).toBe(1);
    await page.click('#hangup');
    await until('session closed on the server', () => fx.sessions.count === 0, 5_000);
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'closed', undefined, { timeout: 5_000 });
    expect(await badge(page)).toBe('closed');
    expect(await page.textContent('#state')).toBe('Ended');
    expect(await page.textContent('#reasonText')).toBe('You ended the session.');
    expect(await page.textContent('#reason')).toBe('(client-closed)');
    expect(await page.isDisabled('#hangup')).toBe(true);
    expect(fx.serverStates.at(-1)).toMatchObject({ state: 'closed', reason: 'client-closed' });
    expectNoProblems();
  });

  it('closing the tab without hanging up closes the session on the server', async () => {
    const page = await openDemo('&offerer=server');
    await waitForStreaming(page);
    expect(fx.sessions.count).toBe(1);
    await page.close();
    await until('session closed after the tab closed', () => fx.sessions.count === 0, 8_000);
    expect(fx.serverStates.at(-1)).toMatchObject({ state: 'closed', reason: 'client-disconnected' });
    expectNoProblems();
  });

  // 'client': the client library's default, data channel and video in one offer (the data
  // channel first); 'data-first': `videoInOffer: false`, the server adding the video; the
  // resume's new m-line keeps the browser's extension ids.
  for (const offerer of ['client', 'server', 'data-first'] as const) {
    it(`a stop started by the server keeps the data channel; Resume brings the picture back (${offerer} offered)`, async () => {
      const page = await openDemo(offerer === 'server' ? '&offerer=server' : offerer === 'data-first' ? '&flow=data-first' : '');
      await waitForStreaming(page);
      const s = fx.sessions.list()[0];
      type Pc = { demo: { session: { pc: RTCPeerConnection } }; __track?: MediaStreamTrack };
      await page.evaluate(() => {
        const w = window as unknown as Pc;
        w.__track = w.demo.session.pc.getTransceivers()[0].receiver.track;
      });
      await fx.sessions.stopVideo(s.ownerId, s.id);
      await expectDataOnly(page, 1);
      // The client library negotiates the data channel first, so the video m-line is not the
      // BUNDLE tag: the server rejects it; the page's track ends and its stopped transceiver
      // leaves getTransceivers(). (The one offer's audio m-line, rejected at the start for
      // this source without sound, is still listed by Firefox 153, not by Chromium 156.)
      const seen = await page.evaluate(() => {
        const w = window as unknown as Pc;
        const video = w.demo.session.pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
        return { transceivers: video.length, track: w.__track?.readyState };
      });
      expect(seen).toEqual({ transceivers: 0, track: 'ended' });
      await page.click('#resumeVideo');
      await expectStreamingAgain(page, 2);
      // And once more, to show the cycle repeats.
      await fx.sessions.stopVideo(s.ownerId, s.id);
      await expectDataOnly(page, 3);
      await page.click('#resumeVideo');
      await expectStreamingAgain(page, 4);
      expectNoProblems();
    });
  }

  it('a stop started by the page (transceiver.stop() and a re-offer) keeps the data channel; then resume', async () => {
    const page = await openDemo();
    await waitForStreaming(page);
    await page.click('#stopVideo');
    await expectDataOnly(page, 11);
    // The page's own offer rejected its video m-line.
    const serverRemote = fx.sessions.list()[0].peerConnection.remoteDescription!.sdp;
    expect(serverRemote).toMatch(/m=video 0 /);
    await page.click('#resumeVideo');
    await expectStreamingAgain(page, 12);
    await page.click('#stopVideo');
    await expectDataOnly(page, 13);
    await page.click('#hangup');
    await waitForBadge(page, 'closed');
    await until('the session to close on the server', () => fx.sessions.count === 0, 5_000);
    expectNoProblems();
  });
});
