import * as sdp from './sdp';

const offer = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=ice-ufrag:sess',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 102',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=recvonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 packetization-mode=1;Profile-Level-Id=42e01f; sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==',
  'm=video 0 UDP/TLS/RTP/SAVPF 96',
  'a=mid:2',
  'a=inactive',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=mid:1',
  'a=sctp-port:5000',
  '',
].join('\r\n');

describe('sdp', () => {
  it('counts m-lines and finds a data channel and a live video', () => {
    expect(sdp.mediaCount(offer)).toBe(3);
    expect(sdp.hasDataChannel(offer)).toBe(true);
    expect(sdp.hasLiveVideo(offer)).toBe(true);
    expect(sdp.hasDataChannel('v=0\r\nm=video 9 X 96\r\n')).toBe(false);
    expect(sdp.hasLiveVideo('v=0\r\nm=video 0 X 96\r\nm=application 9 X y\r\n')).toBe(false);
    expect(sdp.isDescriptionWithMedia(offer)).toBe(true);
    expect(sdp.isDescriptionWithMedia('v=0\r\ns=-\r\n')).toBe(false);
    expect(sdp.isDescriptionWithMedia('m=video 9 X 96\r\n')).toBe(false);
  });

  it('reads an m-line by mid (mids compared as strings), its rejection and direction', () => {
    expect(sdp.receives(offer, '0')).toBe(true);
    expect(sdp.rejects(offer, '0')).toBe(false);
    expect(sdp.rejects(offer, '2')).toBe(true);
    expect(sdp.receives(offer, '2')).toBe(false);
    expect(sdp.receives(offer, '1')).toBe(true); // no direction attribute: sendrecv
    expect(sdp.receives(offer, '9')).toBe(false);
    expect(sdp.rejects(offer, null)).toBe(false);
    expect(sdp.receives(undefined, '0')).toBe(false);
  });

  it('gives the BUNDLE tag and the ICE ufrag', () => {
    expect(sdp.bundleTag(offer)).toBe('0');
    expect(sdp.bundleTag('v=0\r\nm=video 9 X 96\r\n')).toBeUndefined();
    expect(sdp.iceUfragOf(offer)).toBe('sess');
    expect(sdp.iceUfragOf('v=0\r\nm=video 9 X 96\r\na=ice-ufrag:1234\r\n')).toBe('1234');
  });

  it('lists the first video m-line codecs; fmtp values keep every `=` (base64 padding)', () => {
    const codecs = sdp.videoCodecsOf(offer);
    expect(codecs.map((c) => [c.payloadType, c.name, c.clockRate])).toEqual([
      [96, 'VP8', 90000],
      [102, 'H264', 90000],
    ]);
    expect(codecs[1].fmtp).toEqual({
      'packetization-mode': '1',
      'profile-level-id': '42e01f',
      'sprop-parameter-sets': 'Z0IAH5WoFAFuQA==,aM48gA==',
    });
    expect(sdp.videoCodecsOf('v=0\r\nm=video 0 X 96\r\na=rtpmap:96 VP8/90000\r\n')).toEqual([]);
  });
});
