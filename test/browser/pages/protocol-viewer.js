// The signalling of docs/protocol.md, written from that page alone (socket.io-client and the
// browser's RTCPeerConnection; not this project's client library), shared by the test pages:
// requests with their acks, trickle ICE both ways (server candidates queued until the remote
// description is set), the server's renegotiations answered, one offer with session:start,
// and a JSON ping on the data channel. Each page adds its transceivers and its own checks.
// eslint-disable-next-line no-unused-vars
function protocolViewer(viewer, video, server) {
  const socket = io(server, { transports: ['websocket'] });
  let remoteSet = false;
  const pendingCandidates = [];
  const link = { pc: undefined, channel: undefined };

  async function request(event, payload) {
    const res = await socket.timeout(15000).emitWithAck(event, payload);
    if (!res.ok) throw Object.assign(new Error(`${event}: ${res.error.code} ${res.error.message}`), { code: res.error.code });
    return res;
  }

  // Decoded frames, counted as the video element presents them.
  const countFrame = () => {
    viewer.frames++;
    video.requestVideoFrameCallback(countFrame);
  };
  video.requestVideoFrameCallback(countFrame);

  socket.on('session:state', (e) => {
    if (e.sessionId === viewer.sessionId) viewer.states.push({ state: e.state, reason: e.reason });
  });
  socket.on('session:candidate', async (e) => {
    // Server candidates can come before the ack that gives us the session id: queue them
    // until the remote description is set.
    if (!remoteSet) pendingCandidates.push(e.candidate);
    else await link.pc.addIceCandidate(e.candidate ?? undefined).catch(() => undefined);
  });
  socket.on('session:offer', async (e) => {
    // A renegotiation the server started (stop, resume): answer it.
    await link.pc.setRemoteDescription(e.offer);
    await link.pc.setLocalDescription(await link.pc.createAnswer());
    await request('session:answer', { sessionId: viewer.sessionId, answer: { type: 'answer', sdp: link.pc.localDescription.sdp } });
  });

  /** A new peer connection whose ICE candidates go to the session once its id is known. */
  function newPeer() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    link.pc = viewer.pc = pc;
    const sessionId = new Promise((resolve) => (viewer.gotId = resolve));
    pc.onicecandidate = async (e) => {
      const id = await sessionId;
      await request('session:candidate', { sessionId: id, candidate: e.candidate ? e.candidate.toJSON() : null }).catch(() => undefined);
    };
    return pc;
  }

  /** The page's data channel; its messages are kept in viewer.messages. */
  function addChannel() {
    const channel = link.pc.createDataChannel('data');
    channel.onmessage = (e) => viewer.messages.push(e.data);
    link.channel = viewer.channel = channel;
    return channel;
  }

  /** session:start with the page's offer; resolves with the session id once the answer is set. */
  async function start(extra = {}) {
    const pc = link.pc;
    await pc.setLocalDescription(await pc.createOffer());
    const res = await request('session:start', { ...extra, offer: { type: 'offer', sdp: pc.localDescription.sdp } });
    viewer.sessionId = res.sessionId;
    viewer.gotId(res.sessionId);
    await pc.setRemoteDescription(res.answer);
    remoteSet = true;
    for (const c of pendingCandidates.splice(0)) await pc.addIceCandidate(c ?? undefined).catch(() => undefined);
    return res.sessionId;
  }

  /** Sends {"type":"ping","id":id} and resolves with the pong. */
  viewer.ping = (id) =>
    new Promise((resolve, reject) => {
      const channel = link.channel;
      const timer = setTimeout(() => reject(new Error(`no pong ${id} within 5 s`)), 5000);
      const onMessage = (e) => {
        if (String(e.data).includes(`"id":${id}`)) {
          clearTimeout(timer);
          channel.removeEventListener('message', onMessage);
          resolve(JSON.parse(e.data));
        }
      };
      channel.addEventListener('message', onMessage);
      channel.send(JSON.stringify({ type: 'ping', id }));
    });

  window.addEventListener('error', (e) => (viewer.error = String(e.message)));
  window.addEventListener('unhandledrejection', (e) => (viewer.error = String(e.reason)));
  return { request, newPeer, addChannel, start, link };
}
