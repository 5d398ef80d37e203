import { createECDH, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { RTCPeerConnection, RTCRtpCodecParameters, RTCSessionDescription, useAbsSendTime, useSdesMid, useTransportWideCC } from 'werift';
import { loopbackPeer } from '../../test/helpers/werift-viewer';
import { applyWeriftFixes, DtlsCertificates, WERIFT_FIXES, WERIFT_VERSION } from '.';
import { installedWeriftVersion, weriftModule, weriftRoot } from './werift-lib';

/** Loads a dependency of werift's (not ours) from werift's own directory. */
function weriftDependency<T>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(name, { paths: [weriftRoot()] })) as T;
}

async function connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection): Promise<void> {
  const offer = await offerer.createOffer();
  await offerer.setLocalDescription(offer);
  await answerer.setRemoteDescription(offerer.localDescription!);
  const answer = await answerer.createAnswer();
  await answerer.setLocalDescription(answer);
  await offerer.setRemoteDescription(answerer.localDescription!);
  await waitConnected([offerer, answerer]);
}

function waitConnected(peers: RTCPeerConnection[]): Promise<unknown> {
  return Promise.all(
    peers.map(
      (pc) =>
        new Promise<void>((resolve, reject) => {
          if (pc.connectionState === 'connected') return resolve();
          const t = setTimeout(() => reject(new Error('not connected in 10 s')), 10_000);
          pc.connectionStateChange.subscribe((s) => {
            if (s === 'connected') {
              clearTimeout(t);
              resolve();
            }
          });
        }),
    ),
  );
}

describe('werift fixes (src/werift)', () => {
  const pcs: RTCPeerConnection[] = [];
  const pc = () => {
    const p = loopbackPeer();
    pcs.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(pcs.splice(0).map((p) => p.close()));
  });
  /** A client that offered a data channel, and the server that applied the offer (not answered yet). */
  const dataChannelOffered = async () => {
    const client = pc();
    const server = pc();
    client.createDataChannel('data');
    await client.setLocalDescription(await client.createOffer());
    await server.setRemoteDescription(client.localDescription!);
    return { client, server };
  };

  it('are applied once, to the werift version they were written for', () => {
    expect(installedWeriftVersion()).toBe(WERIFT_VERSION);
    const names = applyWeriftFixes();
    expect(names).toEqual(WERIFT_FIXES.map((f) => f.name));
    expect(applyWeriftFixes()).toBe(names); // a second call changes nothing
  });

  it('refuse another werift version at boot, naming both', () => {
    jest.isolateModules(() => {
      jest.doMock('./werift-lib', () => ({
        ...jest.requireActual('./werift-lib'),
        installedWeriftVersion: () => '0.26.0',
      }));
      expect(() => require('.')).toThrow(/werift 0\.26\.0 is installed .* written for werift 0\.25\.2/);
    });
    jest.dontMock('./werift-lib');
  });

  it('no-default-stun: no STUN server unless one is configured', () => {
    const { Connection } = weriftModule('ice/src/ice.js');
    expect(new Connection(true, {}).stunServer).toBeUndefined();
    expect(new Connection(true, { stunServer: ['127.0.0.1', 3478] }).stunServer).toEqual(['127.0.0.1', 3478]);
  });

  it('dtls-node-crypto: P-256 and X25519 secrets agree with the pure-JS code they replace', () => {
    const namedCurve = weriftModule('dtls/src/cipher/namedCurve.js');
    const prf = weriftModule('dtls/src/cipher/prf.js');
    const { p256 } = weriftDependency<{ p256: any }>('@noble/curves/p256');
    const nacl = weriftDependency<any>('tweetnacl');
    // P-256: ours against @noble's
    const ours = namedCurve.generateKeyPair(23);
    expect(ours.publicKey).toHaveLength(65);
    const peerPriv = p256.utils.randomPrivateKey();
    const peerPub = Buffer.from(p256.getPublicKey(peerPriv, false));
    const mine = prf.prfPreMasterSecret(peerPub, ours.privateKey, 23);
    const theirs = Buffer.from(p256.getSharedSecret(peerPriv, ours.publicKey)).subarray(1);
    expect(mine.equals(theirs)).toBe(true);
    // A private key that did not come from generateKeyPair (no cached exchange object).
    const other = createECDH('prime256v1');
    other.generateKeys();
    expect(prf.prfPreMasterSecret(peerPub, other.getPrivateKey(), 23).equals(other.computeSecret(peerPub))).toBe(true);
    // X25519: ours against tweetnacl
    const x = namedCurve.generateKeyPair(29);
    const peer = nacl.box.keyPair();
    const a = prf.prfPreMasterSecret(Buffer.from(peer.publicKey), x.privateKey, 29);
    const b = Buffer.from(nacl.scalarMult(peer.secretKey, x.publicKey));
    expect(a.equals(b)).toBe(true);
    const seed = randomBytes(32);
    expect(prf.prfPreMasterSecret(Buffer.from(nacl.scalarMult.base(seed)), seed, 29).length).toBe(32);
  });

  it('dtls: two werift peers connect, with SRTP_AES128_CM_HMAC_SHA1_80 preferred (srtp-profile-order)', async () => {
    const a = pc();
    const b = pc();
    a.addTransceiver('video', { direction: 'sendonly' });
    await connect(a, b);
    const { SRTP_PROFILE } = weriftModule('webrtc/src/const.js');
    for (const p of [a, b]) {
      const dtls = p.dtlsTransports[0] as unknown as { dtls: { srtp: { srtpProfile: number } } };
      expect(dtls.dtls.srtp.srtpProfile).toBe(SRTP_PROFILE.SRTP_AES128_CM_HMAC_SHA1_80);
    }
  });

  /** Signals a and b (a offers) and resolves with how `side`'s connection ended: 'failed' or 'connected'. */
  const handshake = async (side: 'client' | 'server') => {
    const a = pc();
    const b = pc();
    a.addTransceiver('video', { direction: 'sendonly' });
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription!);
    const peer = [a, b].find((p) => p.dtlsTransports[0].role === side)!;
    const states: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no end in 10 s: ${states.join(', ')}`)), 10_000);
      peer.connectionStateChange.subscribe((st) => {
        states.push(st);
        if (st === 'failed' || st === 'connected') {
          clearTimeout(t);
          resolve();
        }
      });
    });
    return { state: states.at(-1), dtls: peer.dtlsTransports[0].state };
  };

  // Each side signs with another P-256 key than its certificate's: its certificate (and so the
  // fingerprint checked against the SDP) is the genuine one, as when a recorded certificate is replayed.
  it('dtls-verify-client-signature: a DTLS client that shows a certificate without holding its key is refused', async () => {
    const { CipherContext } = weriftModule('dtls/src/context/cipher.js');
    const genuine = CipherContext.prototype.signatureData;
    const { privateKey: other } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    CipherContext.prototype.signatureData = (data: Buffer, hash: string) => sign(hash, data, { key: other, dsaEncoding: 'der' });
    try {
      expect(await handshake('server')).toEqual({ state: 'failed', dtls: 'failed' });
    } finally {
      CipherContext.prototype.signatureData = genuine;
    }
  });

  it('dtls-verify-server-signature: a DTLS server that shows a certificate without holding its key is refused', async () => {
    const { CipherContext } = weriftModule('dtls/src/context/cipher.js');
    const genuine = CipherContext.prototype.generateKeySignature;
    const { privateKey: other } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    CipherContext.prototype.generateKeySignature = function (this: { localRandom: { serialize(): Buffer }; remoteRandom: { serialize(): Buffer }; localKeyPair: { publicKey: Buffer }; namedCurve: number; valueKeySignature(...a: unknown[]): Buffer }, hash: string) {
      const data = this.valueKeySignature(this.remoteRandom.serialize(), this.localRandom.serialize(), this.localKeyPair.publicKey, this.namedCurve);
      return sign(hash, data, { key: other, dsaEncoding: 'der' });
    };
    try {
      expect(await handshake('client')).toEqual({ state: 'failed', dtls: 'failed' });
    } finally {
      CipherContext.prototype.generateKeySignature = genuine;
    }
  });

  it('dtls-peer-confirmed: the DTLS server learns from the client\'s first SCTP packet that it can decrypt; the client knows at once', async () => {
    const client = pc();
    const server = pc();
    client.createDataChannel('data');
    client.addTransceiver('video', { direction: 'recvonly' });
    const offer = await client.createOffer();
    await client.setLocalDescription(offer);
    await server.setRemoteDescription(client.localDescription!);
    // As the service answers (preferDtlsServer): the server side is the DTLS server.
    for (const t of server.dtlsTransports) t.role = 'server';
    type Confirmable = { peerConfirmed?: boolean; onPeerConfirmed?: Set<() => void>; onStateChange: { subscribe(fn: (s: string) => void): void } };
    const serverDtls = server.dtlsTransports[0] as unknown as Confirmable;
    let confirmedAtConnect: boolean | undefined;
    serverDtls.onStateChange.subscribe((s) => {
      if (s === 'connected') confirmedAtConnect = serverDtls.peerConfirmed === true;
    });
    const confirmed = new Promise<void>((resolve) => {
      const check = () => (serverDtls.onPeerConfirmed ? serverDtls.onPeerConfirmed.add(() => resolve()) : setTimeout(check, 1));
      check();
    });
    const answer = await server.createAnswer();
    await server.setLocalDescription(answer);
    await client.setRemoteDescription(server.localDescription!);
    await confirmed;
    expect(confirmedAtConnect).toBe(false);
    expect(serverDtls.peerConfirmed).toBe(true);
    const clientDtls = client.dtlsTransports[0] as unknown as Confirmable & { role: string };
    expect(clientDtls.role).toBe('client');
    expect(clientDtls.peerConfirmed).toBe(true);
  });

  it('dtls-actpass-offers and rejected-mline-rtcp-mux: the re-offer after a stop', async () => {
    const client = pc();
    const server = pc();
    client.addTransceiver('video', { direction: 'recvonly' });
    client.createDataChannel('data');
    await connect(client, server);
    const serverVideo = server.getTransceivers()[0];
    serverVideo.stop();
    const reoffer = await server.createOffer();
    expect(reoffer.sdp).not.toMatch(/a=setup:(active|passive)/);
    expect(reoffer.sdp).toMatch(/a=setup:actpass/);
    const video = reoffer.sdp.split(/\r\n(?=m=)/).find((m) => m.startsWith('m=video'))!;
    expect(video).toMatch(/^m=video 0 /);
    expect(video).toMatch(/a=rtcp-mux/);
    // The answer to the re-offer keeps the established DTLS role.
    const role = server.dtlsTransports[0].role;
    await server.setLocalDescription(reoffer);
    await client.setRemoteDescription(new RTCSessionDescription(server.localDescription!.sdp, 'offer'));
    const answer = await client.createAnswer();
    await client.setLocalDescription(answer);
    await server.setRemoteDescription(client.localDescription!);
    expect(server.dtlsTransports[0].role).toBe(role);
  });

  it('ice-role-kept-in-reoffer: the answerer\'s re-offer before ICE is connected keeps it controlled; a restart decides anew', async () => {
    const { client, server } = await dataChannelOffered();
    await server.setLocalDescription(await server.createAnswer());
    const ice = () => server.dtlsTransports[0].iceTransport;
    expect(ice().role).toBe('controlled');
    // As the service does to add the video: re-offer at once, before the client answered.
    server.addTransceiver('video', { direction: 'sendonly' });
    await server.setLocalDescription(await server.createOffer());
    expect(ice().role).toBe('controlled');
    expect(client.dtlsTransports[0].iceTransport.connection.iceControlling).toBe(true);
    await client.setRemoteDescription(server.localDescription!);
    await client.setLocalDescription(await client.createAnswer());
    await server.setRemoteDescription(client.localDescription!);
    // A restart clears the peer's credentials, so the restarting offerer becomes controlling.
    server.restartIce();
    await server.setLocalDescription(await server.createOffer());
    expect(ice().connection.iceControlling).toBe(true);
  });

  it('dtls-early-client-hello: a ClientHello in two fragments that arrived before DTLS started is answered at once', async () => {
    const { client, server } = await dataChannelOffered();
    for (const t of server.dtlsTransports) t.role = 'server';
    type Conn = { send(d: Buffer): Promise<void>; onData: { subscribe(f: (d: Buffer) => void): void } };
    const clientIce = client.dtlsTransports[0].iceTransport.connection as unknown as Conn;
    const serverIce = server.dtlsTransports[0].iceTransport.connection as unknown as Conn;
    const isHello = (d: Buffer) => d.length > 25 && d[0] === 22 && d[13] === 1;
    // As Chromium's (1.4 kB with its post-quantum key share): the ClientHello in two records.
    let cookieLessHellos = 0;
    const send = clientIce.send.bind(clientIce);
    clientIce.send = async (d: Buffer) => {
      if (!isHello(d) || d.readUIntBE(19, 3) !== 0) return send(d);
      if (d[59 + 1 + d[59]] === 0) cookieLessHellos++; // after version, random and session id
      const body = d.subarray(25);
      const cut = body.length >> 1;
      const record = (offset: number, part: Buffer) => {
        const header = Buffer.from(d.subarray(0, 25));
        header.writeUInt16BE(12 + part.length, 11);
        header.writeUIntBE(offset, 19, 3);
        header.writeUIntBE(part.length, 22, 3);
        return Buffer.concat([header, part]);
      };
      await send(record(0, body.subarray(0, cut)));
      return send(record(cut, body.subarray(cut)));
    };
    // The server's DTLS starts only once both fragments are in (its ICE reported connected later).
    let fragments = 0;
    const arrived = new Promise<void>((resolve) => serverIce.onData.subscribe((d) => isHello(d) && ++fragments === 2 && resolve()));
    const serverDtls = server.dtlsTransports[0];
    const start = serverDtls.start.bind(serverDtls);
    serverDtls.start = async () => {
      await arrived;
      return start();
    };
    await server.setLocalDescription(await server.createAnswer());
    await client.setRemoteDescription(server.localDescription!);
    await waitConnected([client, server]);
    // The first ClientHello was answered: no retransmission (werift's comes after 500 ms) was needed.
    expect(cookieLessHellos).toBe(1);
  });

  it('ice-connected-at-nomination: the controlled agent reports connected at the nomination, not at its next check tick', async () => {
    const { client, server } = await dataChannelOffered();
    type Conn = { state: string; nominated?: unknown; checkComplete(p: unknown): void };
    const ice = server.dtlsTransports[0].iceTransport.connection as unknown as Conn;
    const checkComplete = ice.checkComplete.bind(ice);
    let stateAfterNomination: string | undefined;
    ice.checkComplete = (pair) => {
      const before = ice.nominated;
      checkComplete(pair);
      // A timer set at the nomination runs after everything the nomination set off at once,
      // and before werift's next 20 ms check tick in all but a sliver of cases.
      if (!before && ice.nominated) setTimeout(() => (stateAfterNomination = ice.state), 0);
    };
    await server.setLocalDescription(await server.createAnswer());
    await client.setRemoteDescription(server.localDescription!);
    await waitConnected([client, server]);
    expect(stateAfterNomination).toBe('connected');
  });

  it('extmap-ids-in-bundle: a video re-added on a new m-line keeps the ids the peer chose for the session', async () => {
    const ext = () => [useSdesMid(), useAbsSendTime(), useTransportWideCC()];
    const client = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', headerExtensions: { video: ext() } });
    const server = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', headerExtensions: { video: ext() } });
    pcs.push(client, server);
    client.createDataChannel('data');
    client.addTransceiver('video', { direction: 'recvonly' });
    // The client's own ids, as a browser picks them (Firefox: sdes:mid is 3).
    const offer = await client.createOffer();
    const ids: Record<string, number> = { [useSdesMid().uri]: 3, [useAbsSendTime().uri]: 2, [useTransportWideCC().uri]: 7 };
    const sdp = offer.sdp.replace(/^a=extmap:\d+ (\S+)/gm, (_l, uri: string) => `a=extmap:${ids[uri]} ${uri}`);
    await client.setLocalDescription(offer);
    await server.setRemoteDescription(new RTCSessionDescription(sdp, 'offer'));
    server.getTransceivers()[0].setDirection('sendonly');
    await server.setLocalDescription(await server.createAnswer());
    await client.setRemoteDescription(server.localDescription!);
    // The video is stopped (m-line rejected), then re-added on a new m-line by the server.
    server.getTransceivers()[0].stop();
    await server.setLocalDescription(await server.createOffer());
    await client.setRemoteDescription(server.localDescription!);
    await client.setLocalDescription(await client.createAnswer());
    await server.setRemoteDescription(client.localDescription!);
    server.addTransceiver('video', { direction: 'sendonly' });
    const reoffer = await server.createOffer();
    const last = reoffer.sdp.split(/\r\n(?=m=)/).find((m) => m.startsWith('m=video') && !m.startsWith('m=video 0 '))!;
    expect(last).toMatch(/a=mid:2/);
    const offered = Object.fromEntries([...last.matchAll(/^a=extmap:(\d+) (\S+)/gm)].map((m) => [m[2], Number(m[1])]));
    expect(offered).toEqual(ids);
  });

  it('h264-answer-profile: the answer takes the offered H.264 entry with the configured profile and packetization mode', async () => {
    const h264 = (pt: number, pli: string, mode: number) => [
      `a=rtpmap:${pt} H264/90000`,
      `a=fmtp:${pt} level-asymmetry-allowed=1;packetization-mode=${mode};profile-level-id=${pli}`,
    ];
    const client = pc();
    client.createDataChannel('data');
    client.addTransceiver('video', { direction: 'recvonly' });
    const offer = await client.createOffer();
    // Chromium's order: Baseline before Constrained Baseline, and each mode 0 after mode 1
    // (here mode 0 first, as another client may list it).
    const entries = [h264(104, '42001f', 0), h264(102, '42001f', 1), h264(108, '42e01f', 0), h264(106, '42e01f', 1)];
    // The video section with these H.264 entries in place of werift's own codecs.
    const sections = offer.sdp.split(/\r\n(?=m=)/);
    const sdp = sections
      .map((section) => {
        if (!section.startsWith('m=video')) return section;
        const lines = section.split('\r\n').filter((l) => !/^a=(rtpmap|fmtp|rtcp-fb):/.test(l));
        lines[0] = lines[0].replace(/^(m=video \d+ \S+) .*$/, '$1 104 102 108 106');
        const mid = lines.findIndex((l) => l.startsWith('a=mid:'));
        lines.splice(mid + 1, 0, ...entries.flat());
        return lines.join('\r\n');
      })
      .join('\r\n');
    expect(sdp).toContain('a=fmtp:106 ');
    const answerWith = async (pli: string) => {
      const server = new RTCPeerConnection({
        iceServers: [],
        bundlePolicy: 'max-bundle',
        codecs: { audio: [], video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, parameters: `profile-level-id=${pli};packetization-mode=1;level-asymmetry-allowed=1` })] },
      });
      pcs.push(server);
      await server.setRemoteDescription(new RTCSessionDescription(sdp, 'offer'));
      const video = (await server.createAnswer()).sdp.split(/\r\n(?=m=)/).find((m) => m.startsWith('m=video'))!;
      return video.match(/^m=video \d+ \S+ (.*)$/m)![1];
    };
    // werift alone answered the first H.264 entry: 104, a mode the sender does not speak.
    expect(await answerWith('42e01f')).toBe('106');
    expect(await answerWith('42001f')).toBe('102');
    // No entry with the configured profile: the first one in the configured mode.
    expect(await answerWith('4d001f')).toBe('102');
  });

  it('remote-sdp-parsed-once: applying an offer parses it once; dtls-lazy-log-summary: no cipher summary for a log that is off', async () => {
    const client = pc();
    const server = pc();
    client.addTransceiver('video', { direction: 'recvonly' });
    client.createDataChannel('data');
    const offer = await client.createOffer();
    await client.setLocalDescription(offer);
    const { SessionDescription } = weriftModule('webrtc/src/sdp.js');
    const parse = SessionDescription.parse;
    const parsed: string[] = [];
    SessionDescription.parse = (sdp: string) => (parsed.push(sdp), parse(sdp));
    try {
      await server.setRemoteDescription(new RTCSessionDescription(offer.sdp, 'offer'));
    } finally {
      SessionDescription.parse = parse;
    }
    expect(parsed.filter((s) => s === offer.sdp)).toHaveLength(1);
    expect(server.getTransceivers()).toHaveLength(1);
    const AEADCipher = weriftModule('dtls/src/cipher/suites/aead.js').default;
    expect(new AEADCipher().summary).toBeUndefined();
  });

  it('certificate: one per process, renewed on request; a live connection keeps its own', async () => {
    const certs = new DtlsCertificates();
    const first = await certs.renew();
    expect(certs.get(60_000)).toBe(first);
    const a = pc();
    a.createDataChannel('x');
    const offerA = await a.createOffer();
    const fp = (sdp: string) => /a=fingerprint:sha-256 (\S+)/.exec(sdp)?.[1];
    const expected = first.getFingerprints()[0].value;
    expect(fp(offerA.sdp)).toBe(expected);
    const der = Buffer.from(first.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(expected).toBe(createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':'));
    const second = await certs.renew();
    expect(second).not.toBe(first);
    const b = pc();
    b.createDataChannel('x');
    expect(fp((await b.createOffer()).sdp)).toBe(second.getFingerprints()[0].value);
    expect(fp((await a.createOffer()).sdp)).toBe(expected);
  });

  it('sctp-flush-before-start: a data channel flushed before SCTP start() gets an id, no TypeError', async () => {
    const a = pc();
    const channel = a.createDataChannel('x');
    const transport = (a as unknown as { sctpTransport: any }).sctpTransport;
    const { SCTP_STATE } = weriftModule('sctp/src/const.js');
    expect(transport.dataChannelId).toBeUndefined();
    // The state the remote's early INIT leaves it in: associated, start() not yet run.
    transport.sctp.send = async () => undefined;
    transport.sctp.associationState = SCTP_STATE.ESTABLISHED;
    await transport.dataChannelFlush();
    expect([0, 1]).toContain(channel.id);
  });

  it('dtls-retransmitted-hellos: a repeated HelloVerifyRequest is ignored, not thrown', async () => {
    const { Flight3 } = weriftModule('dtls/src/flight/client/flight3.js');
    const flight = Object.assign(Object.create(Flight3.prototype), { dtls: { flight: 3 } });
    await expect(flight.exec({ cookie: Buffer.alloc(20) })).resolves.toBeUndefined();
  });
  it('sctp-stop-replaced-association: a re-offer that moves the data channel to a transport of its own stops the old association', async () => {
    const client = pc();
    const server = pc();
    client.addTransceiver('video', { direction: 'recvonly' });
    const channel = client.createDataChannel('data');
    await connect(client, server);
    await new Promise<void>((resolve) => {
      if (channel.readyState === 'open') return resolve();
      channel.stateChanged.subscribe((s) => s === 'open' && resolve());
    });
    const { SCTP_STATE } = weriftModule('sctp/src/const.js');
    const transport = (server as unknown as { sctpTransport: { sctp: { associationState: number; timerHeartbeatHandle?: unknown } } }).sctpTransport;
    const old = transport.sctp;
    expect(old.associationState).toBe(SCTP_STATE.ESTABLISHED);
    // The client's next offer with the data channel's mid emptied (what the mutated-SDP test
    // sends): werift takes that m-line as outside the BUNDLE group and gives it a DTLS transport
    // of its own, hence a new association.
    const offer = await client.createOffer();
    const sdp = offer.sdp.replace(/(m=application[\s\S]*?a=mid:)\S+/, '$1');
    await server.setRemoteDescription(new RTCSessionDescription(sdp, 'offer'));
    expect(transport.sctp).not.toBe(old);
    for (let i = 0; i < 50 && old.associationState !== SCTP_STATE.CLOSED; i++) await new Promise((r) => setTimeout(r, 20));
    expect(old.associationState).toBe(SCTP_STATE.CLOSED);
    expect(old.timerHeartbeatHandle).toBeUndefined();
  });

  it('event-shared-methods: an Event makes only the methods it is asked for, bound, and behaves as werift\'s', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Event } = require('werift') as { Event: new () => any };
    const ev = new Event();
    expect(Object.keys(ev).sort()).toEqual(['ended', 'event', 'onended']); // no closure yet
    const { execute, complete } = ev.returnTrigger; // detached, as werift uses them
    const got: unknown[] = [];
    const sub = ev.subscribe((...a: unknown[]) => got.push(a));
    ev.once((x: unknown) => got.push(['once', x]));
    const queued: unknown[] = [];
    ev.queuingSubscribe(async (x: unknown) => {
      await new Promise((r) => setTimeout(r, 5));
      queued.push(x);
    });
    execute(1, 2);
    execute(3);
    expect(got).toEqual([[1, 2], ['once', 1], [3]]);
    await new Promise((r) => setTimeout(r, 30));
    expect(queued).toEqual([1, 3]);
    sub.unSubscribe();
    expect(ev.length).toBe(0);
    const later = ev.asPromise(1000);
    ev.execute('x');
    await expect(later).resolves.toEqual(['x']);
    // A failing queuing subscriber reaches onerror (assigned by the owner, as werift's code does).
    const err = new Event();
    const errors: unknown[] = [];
    err.onerror = (e: unknown) => errors.push(e);
    err.queuingSubscribe(async () => {
      throw new Error('boom');
    });
    err.execute();
    await new Promise((r) => setTimeout(r, 10));
    expect(errors).toHaveLength(1);
    // complete(): subscribers' complete callbacks, then nothing more runs.
    let completed = 0;
    let ended = 0;
    ev.subscribe(() => got.push('after'), () => completed++);
    ev.onended = () => ended++;
    complete();
    ev.execute('ignored');
    expect([completed, ended, ev.ended, got.includes('after')]).toEqual([1, 1, true, false]);
    // A subscriber added while the event runs gets that same event, as with werift's push.
    const nested = new Event();
    const seenNested: unknown[] = [];
    nested.subscribe((x: unknown) => {
      seenNested.push(['first', x]);
      if (x === 1) nested.subscribe((y: unknown) => seenNested.push(['added', y]));
    });
    nested.execute(1);
    nested.execute(2);
    expect(seenNested).toEqual([['first', 1], ['added', 1], ['first', 2], ['added', 2]]);
    // Methods can still be replaced per instance.
    const own = new Event();
    own.execute = () => 'mine';
    expect(own.execute()).toBe('mine');
    // werift's objects are made with it (a peer connection's events).
    expect(Object.keys(pc().connectionStateChange)).not.toContain('subscribe');
  });
});
