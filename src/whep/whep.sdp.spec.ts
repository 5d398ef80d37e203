import { iceServerLinks, iceUfragOf, parseSdpFragment, restartFragment, restartOffer, withCandidates } from './whep.sdp';

describe('WHEP SDP helpers', () => {
  it('parses a trickle-ice-sdpfrag (RFC 8840) with credentials, mids, candidates and end-of-candidates', () => {
    const frag = [
      'a=ice-ufrag:EsAw',
      'a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1',
      'm=audio 9 UDP/TLS/RTP/SAVPF 0',
      'a=mid:0',
      'a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1',
      'm=video 9 UDP/TLS/RTP/SAVPF 0',
      'a=mid:1',
      'a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2',
      'a=end-of-candidates',
      '',
    ].join('\r\n');
    const f = parseSdpFragment(frag);
    expect(f.ufrag).toBe('EsAw');
    expect(f.pwd).toBe('P2uYro0UCOQ4zxjKXaWCBui1');
    expect(f.endOfCandidates).toBe(true);
    expect(f.candidates.map((c) => [c.sdpMid, c.candidate.split(' ')[4]])).toEqual([
      ['0', '192.0.2.1'],
      ['1', '198.51.100.2'],
    ]);
    expect(f.candidates[0].candidate).toMatch(/^candidate:/);
    // Without m= lines: candidates of the first m-line.
    const bare = parseSdpFragment('a=candidate:1 1 udp 1 192.0.2.1 5000 typ host\n');
    expect(bare.candidates).toEqual([expect.objectContaining({ sdpMid: null, sdpMLineIndex: 0 })]);
    expect(() => parseSdpFragment('not sdp at all')).toThrow(/not an SDP fragment/);
    expect(() => parseSdpFragment(`a=x\n${'a'.repeat(70_000)}`)).toThrow(/too large/);
  });

  it('puts the gathered candidates into the answer (the section of their mid, else the first live one)', () => {
    const answer = ['v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', 'm=audio 0 UDP/TLS/RTP/SAVPF 0', 'a=mid:1', ''].join('\r\n');
    const out = withCandidates(answer, [
      { candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host', sdpMid: '0' },
      { candidate: 'candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host', sdpMid: null },
    ]);
    const video = out.split('m=audio')[0];
    expect(video).toContain('a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n');
    expect(video).toContain('a=candidate:2 1 udp');
    expect(video).toContain('a=end-of-candidates\r\n');
    expect(out.split('m=audio')[1]).not.toContain('a=candidate');
    expect(out.endsWith('\r\n')).toBe(true);
    // An answer that already has candidates is left alone.
    expect(withCandidates(out, [{ candidate: 'candidate:3 1 udp 1 127.0.0.1 1 typ host' }])).toBe(out);
    expect(iceUfragOf('v=0\r\nm=video 9 X 96\r\na=ice-ufrag:abc\r\n')).toBe('abc');
  });

  it('writes ICE-server Link headers (RFC 9725 4.6), quoting credentials', () => {
    expect(
      iceServerLinks([
        { urls: 'stun:stun.example.net' },
        { urls: ['turn:turn.example.net?transport=udp', 'turns:turn.example.net'], username: 'user', credential: 'p"a\\ss' },
      ]),
    ).toEqual([
      '<stun:stun.example.net>; rel="ice-server"',
      '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="user"; credential="p\\"a\\\\ss"; credential-type="password"',
      '<turns:turn.example.net>; rel="ice-server"; username="user"; credential="p\\"a\\\\ss"; credential-type="password"',
    ]);
  });

  it('builds the ICE-restart offer (new credentials everywhere, old candidates gone) and the 200 fragment (new credentials, BUNDLE, candidates once)', () => {
    const offer = [
      'v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
      'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:old1', 'a=ice-pwd:oldpassword0123456789012', 'a=mid:0', 'a=recvonly',
      'a=candidate:1 1 udp 1 192.0.2.9 5000 typ host', 'a=end-of-candidates',
      'm=audio 0 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:old1', 'a=ice-pwd:oldpassword0123456789012', 'a=mid:1', 'a=inactive',
      '',
    ].join('\r\n');
    const re = restartOffer(offer, 'new1', 'newpassword0123456789012');
    expect(re).not.toMatch(/old1|oldpassword|a=candidate|end-of-candidates/);
    expect(re.match(/a=ice-ufrag:new1\r\n/g)).toHaveLength(2);
    expect(re.match(/a=ice-pwd:newpassword0123456789012\r\n/g)).toHaveLength(2);
    expect(re.endsWith('\r\n')).toBe(true);

    const answer = re.replace(/new1/g, 'srv1').replace(/newpassword0123456789012/g, 'serverpassword0123456789');
    const frag = restartFragment(answer, [{ candidate: 'candidate:2 1 udp 2 127.0.0.1 6000 typ host', sdpMid: '0', sdpMLineIndex: 0 }]);
    expect(frag).toBe(
      ['a=ice-ufrag:srv1', 'a=ice-pwd:serverpassword0123456789', 'a=group:BUNDLE 0 1', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0',
        'a=candidate:2 1 udp 2 127.0.0.1 6000 typ host', 'a=end-of-candidates', ''].join('\r\n'),
    );
    // What the client reads back from it.
    expect(parseSdpFragment(frag)).toMatchObject({ ufrag: 'srv1', pwd: 'serverpassword0123456789', endOfCandidates: true, candidates: [expect.objectContaining({ sdpMid: '0' })] });
    expect(() => restartFragment('v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n', [])).toThrow(/no ICE credentials/);
  });
});
