import { RTCPeerConnection } from 'werift';
import { loopbackPeer } from '../helpers/werift-viewer';

/** A plain WHEP client made of a werift peer and fetch, written from the draft alone. */
export interface WhepClient {
  pc: RTCPeerConnection;
  status: number;
  headers: Headers;
  /** The session resource (absolute URL). */
  resource?: string;
  /** RTP packets received on the video track. */
  packets: () => number;
  /** RTP packets received on the audio track (a source with audio). */
  audioPackets: () => number;
  close(): Promise<void>;
}

export async function whepPost(
  url: string,
  opts: { audio?: boolean; token?: string; trickle?: boolean; contentType?: string } = {},
): Promise<WhepClient> {
  const pc = loopbackPeer();
  let packets = 0;
  let audioPackets = 0;
  pc.onTrack.subscribe((track) => {
    if (track.kind === 'video') track.onReceiveRtp.subscribe(() => packets++);
    else track.onReceiveRtp.subscribe(() => audioPackets++);
  });
  pc.addTransceiver('video', { direction: 'recvonly' });
  if (opts.audio) pc.addTransceiver('audio', { direction: 'recvonly' });
  const offer = await pc.createOffer();
  const pending: string[] = [];
  if (opts.trickle) {
    pc.onIceCandidate.subscribe((c) => c && pending.push(c.candidate));
    void pc.setLocalDescription(offer);
  } else {
    await pc.setLocalDescription(offer); // resolves once gathering is complete
  }
  const sdp = opts.trickle ? offer.sdp : pc.localDescription!.sdp;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': opts.contentType ?? 'application/sdp',
      ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
    },
    body: sdp,
  });
  const body = await res.text();
  const location = res.headers.get('location');
  const resource = location ? new URL(location, url).toString() : undefined;
  if (res.status === 201) {
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    if (opts.trickle && resource) {
      // Trickle what was gathered, as one fragment (RFC 8840), with the offer's credentials.
      await new Promise((r) => setTimeout(r, 200));
      const ufrag = /a=ice-ufrag:(\S+)/.exec(offer.sdp)![1];
      const pwd = /a=ice-pwd:(\S+)/.exec(offer.sdp)![1];
      const mid = /a=mid:(\S+)/.exec(offer.sdp)![1];
      const frag = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=video 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${mid}`, ...pending.map((c) => `a=${c}`), 'a=end-of-candidates', ''].join('\r\n');
      const patch = await fetch(resource, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': res.headers.get('etag') ?? '*' },
        body: frag,
      });
      if (patch.status !== 204) throw new Error(`PATCH answered ${patch.status}: ${await patch.text()}`);
    }
  }
  return {
    pc,
    status: res.status,
    headers: res.headers,
    resource,
    packets: () => packets,
    audioPackets: () => audioPackets,
    async close() {
      await pc.close();
    },
  };
}
