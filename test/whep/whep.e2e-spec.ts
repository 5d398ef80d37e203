/**
 * WHEP against the real application, with a werift peer and fetch as the client (written
 * from draft-ietf-wish-whep, not from our code). Loopback only.
 */
import { ClusterOptions } from '../../src/cluster/cluster.options';
import { ClusterService } from '../../src/cluster/cluster.service';
import { SessionService } from '../../src/session/session.service';
import { TestApp, startApp } from '../helpers/app';
import { until } from '../helpers/browser';
import { countOwnUdpSockets } from '../helpers/udp-sockets';
import { ok } from '../helpers/werift-viewer';
import { WhepClient, whepPost } from './whep-client';

jest.setTimeout(30_000);

describe('WHEP', () => {
  let t: TestApp;
  const clients: WhepClient[] = [];
  const sessions = () => t.app.get(SessionService);

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await t?.close();
  });

  async function post(path: string, opts: Parameters<typeof whepPost>[1] = {}): Promise<WhepClient> {
    const c = await whepPost(`${t.url}${path}`, opts);
    clients.push(c);
    return c;
  }

  it('POST answers 201 with an answer that carries candidates, a Location, an ETag and ICE-server Links; media flows; DELETE ends it', async () => {
    t = await startApp({
      streaming: { clientIceServers: [{ urls: 'turn:turn.example.invalid:3478', username: 'u', credential: 'p"w' }] },
    });
    const udpBefore = countOwnUdpSockets();
    const c = await post('/whep/test', { audio: true });
    expect(c.status).toBe(201);
    expect(c.headers.get('content-type')).toMatch(/^application\/sdp/);
    expect(c.headers.get('location')).toMatch(/^\/whep\/test\/[\w-]{16,}$/);
    expect(c.headers.get('etag')).toMatch(/^"[\w-]+"$/);
    expect(c.headers.get('link')).toBe('<turn:turn.example.invalid:3478>; rel="ice-server"; username="u"; credential="p\\"w"; credential-type="password"');
    const answer = c.pc.remoteDescription!.sdp;
    expect(answer).toMatch(/^a=candidate:.* 127\.0\.0\.1 /m);
    expect(answer).toMatch(/^m=audio 0 /m); // no audio here: the audio m-line is rejected
    await until('video packets', () => c.packets() > 20, 10_000);

    // A session like any other: in the source's viewer count, owned by `whep:<id>`.
    const [s] = sessions().list();
    expect(s.ownerId).toMatch(/^whep:/);
    await until('streaming', () => s.state === 'streaming', 5000);
    const socket = await t.connect();
    const listed = await ok<{ sources: { id: string; viewers: number }[] }>(socket, 'sources:list', {});
    expect(listed.sources.find((x) => x.id === 'test')?.viewers).toBe(1);
    expect((await t.app.get(ClusterService).viewerCounts()).sources.test).toBe(1);

    const del = await fetch(c.resource!, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(s.closed).toBe(true);
    expect(sessions().count).toBe(0);
    expect((await fetch(c.resource!, { method: 'DELETE' })).status).toBe(404);
    await c.close();
    await until('UDP sockets released', () => countOwnUdpSockets() <= udpBefore, 10_000);
  });

  it('trickles the client candidates with PATCH (If-Match), refuses a stale ETag (412), a restart without a password (400) and a wrong type (415)', async () => {
    t = await startApp();
    const c = await post('/whep', { trickle: true });
    expect(c.status).toBe(201);
    // POST /whep (no source) is the default source; its resource names it.
    expect(c.resource).toMatch(/\/whep\/test\/[\w-]+$/);
    await until('video packets after trickle', () => c.packets() > 10, 10_000);
    const patch = (body: string, headers: Record<string, string>) =>
      fetch(c.resource!, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', ...headers }, body });
    expect((await patch('a=end-of-candidates\r\n', { 'If-Match': '"stale"' })).status).toBe(412);
    const noPwd = await patch('a=ice-ufrag:abcd\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n', { 'If-Match': '*' });
    expect(noPwd.status).toBe(400);
    expect(await noPwd.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await patch('a=end-of-candidates\r\n', { 'Content-Type': 'text/plain' })).status).toBe(415);
    // The session is untouched by the refused requests.
    const n = c.packets();
    await until('still streaming', () => c.packets() > n + 10, 5000);
  });

  it('restarts ICE with PATCH (RFC 9725 4.3.2): 200 with the new credentials and candidates, a new ETag; the same session streams on the new path', async () => {
    t = await startApp();
    const c = await post('/whep/test');
    await until('video packets', () => c.packets() > 10, 10_000);
    const [s] = sessions().list();
    const etag = c.headers.get('etag')!;
    const serverUfrag = /a=ice-ufrag:(\S+)/.exec(c.pc.remoteDescription!.sdp)![1];

    // The client restarts: new credentials and candidates, sent as one fragment.
    const offer = await c.pc.createOffer({ iceRestart: true });
    await c.pc.setLocalDescription(offer); // resolves once gathering is complete
    const local = c.pc.localDescription!.sdp;
    const ufrag = /a=ice-ufrag:(\S+)/.exec(local)![1];
    const pwd = /a=ice-pwd:(\S+)/.exec(local)![1];
    const mid = /a=mid:(\S+)/.exec(local)![1];
    const candidates = local.split(/\r\n/).filter((l) => l.startsWith('a=candidate:'));
    expect(candidates.length).toBeGreaterThan(0);
    const frag = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=video 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${mid}`, ...candidates, 'a=end-of-candidates', ''].join('\r\n');
    const res = await fetch(c.resource!, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }, body: frag });
    const body = await res.text();
    expect([res.status, res.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^application\/trickle-ice-sdpfrag/)]);
    expect(res.headers.get('etag')).toMatch(/^"[\w-]+"$/);
    expect(res.headers.get('etag')).not.toBe(etag);
    const newUfrag = /^a=ice-ufrag:(\S+)$/m.exec(body)?.[1];
    const newPwd = /^a=ice-pwd:(\S+)$/m.exec(body)?.[1];
    expect(newUfrag).toBeDefined();
    expect(newUfrag).not.toBe(serverUfrag);
    expect(body).toMatch(/^a=candidate:.* 127\.0\.0\.1 /m);
    expect(body).toMatch(/^a=end-of-candidates$/m);

    // The client applies them as WHEP clients do: its last answer with the new credentials
    // and candidates (the fragment's lines are byte for byte what the answer needs).
    const answer = c.pc.remoteDescription!.sdp
      .split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
      .map((l) => (l.startsWith('a=ice-ufrag:') ? `a=ice-ufrag:${newUfrag}` : l.startsWith('a=ice-pwd:') ? `a=ice-pwd:${newPwd}` : l))
      .join('\r\n');
    await c.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    for (const line of body.split('\r\n').filter((l) => l.startsWith('a=candidate:'))) {
      await c.pc.addIceCandidate({ candidate: line.slice(2), sdpMid: mid });
    }
    // The old ETag is stale now; the new one works.
    const stale = await fetch(c.resource!, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }, body: 'a=end-of-candidates\r\n' });
    expect(stale.status).toBe(412);
    await until('the restarted pair connected', () => c.pc.connectionState === 'connected' && s.peerConnection.iceConnectionState === 'connected', 10_000);
    const n = c.packets();
    await until('video on the restarted path', () => c.packets() > n + 20, 10_000);
    expect(sessions().list().map((x) => [x.id, x.state])).toEqual([[s.id, 'streaming']]);
    expect(s.peerConnection.remoteDescription!.sdp).toContain(`a=ice-ufrag:${ufrag}`);
  });

  it('refuses a wrong content type (415), a non-SDP body (400), an unknown source or resource (404), a huge body (413), an offer without video (422)', async () => {
    t = await startApp();
    const r1 = await fetch(`${t.url}/whep/test`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'v=0' });
    expect(r1.status).toBe(415);
    const r2 = await fetch(`${t.url}/whep/test`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'hello' });
    expect(r2.status).toBe(400);
    expect(await r2.json()).toEqual({ code: 'VALIDATION_FAILED', message: 'the body is not an SDP offer' });
    const r3 = await post('/whep/nope');
    expect(r3.status).toBe(404);
    const r4 = await fetch(`${t.url}/whep/test/AAAAAAAAAAAAAAAAAAAAAAAA`, { method: 'DELETE' });
    expect(r4.status).toBe(404);
    const big = await fetch(`${t.url}/whep/test`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: `v=0\r\n${'a=x\r\n'.repeat(40_000)}` });
    expect(big.status).toBe(413);
    const noVideo = await fetch(`${t.url}/whep/test`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n',
    });
    expect([noVideo.status, ((await noVideo.json()) as { code: string }).code]).toEqual([422, 'NEGOTIATION_FAILED']);
    // A closed session's resource is gone for PATCH too.
    const c = await post('/whep/test');
    await fetch(c.resource!, { method: 'DELETE' });
    const late = await fetch(c.resource!, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=end-of-candidates\r\n' });
    expect(late.status).toBe(404);
    expect(sessions().count).toBe(0);
  });

  it('answers OPTIONS and CORS preflights, and exposes Location/ETag/Link to pages of other origins', async () => {
    t = await startApp({ streaming: { whep: { allowOrigin: ['http://player.example'] } } });
    const pre = await fetch(`${t.url}/whep/test`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://player.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://player.example');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(pre.headers.get('accept-post')).toBe('application/sdp');
    const other = await fetch(`${t.url}/whep/test`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const c = await whepPost(`${t.url}/whep/test`, {});
    clients.push(c);
    const pre2 = await fetch(c.resource!, { method: 'OPTIONS', headers: { Origin: 'http://player.example' } });
    expect(pre2.headers.get('accept-patch')).toBe('application/trickle-ice-sdpfrag');
    expect(pre2.headers.get('allow')).toBe('OPTIONS, PATCH, DELETE');
  });

  it('passes the Bearer token to the authorize hook (401 with WWW-Authenticate when refused)', async () => {
    const seen: unknown[] = [];
    t = await startApp({
      streaming: {
        authorize: (h) => {
          seen.push(h.auth.token);
          return h.auth.token === 'good' ? true : { allow: false, reason: 'bad token' };
        },
      },
    });
    const bad = await post('/whep/test', { token: 'nope' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer');
    const good = await post('/whep/test', { token: 'good' });
    expect(good.status).toBe(201);
    expect(seen).toEqual(['nope', 'good']);
  });

  it('is absent when turned off (whep.enabled false): 404, no session', async () => {
    t = await startApp({ streaming: { whep: { enabled: false } } });
    const c = await post('/whep/test');
    expect(c.status).toBe(404);
    expect(c.headers.get('location')).toBeNull();
    expect(sessions().count).toBe(0);
  });

  it('counts against maxSessions (503 with Retry-After)', async () => {
    t = await startApp({ session: { maxSessions: 1 } });
    expect((await post('/whep/test')).status).toBe(201);
    const second = await post('/whep/test');
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('5');
    expect(sessions().count).toBe(1);
  });

  it('is listed by GET /admin/sessions and ended by DELETE /admin/sessions/:id, its resource then gone', async () => {
    const ADMIN = 'admin-token-0123456789';
    t = await startApp({ customize: (b) => b.overrideProvider(ClusterOptions).useValue(ClusterOptions.from({ adminToken: ADMIN })) });
    const c = await post('/whep/test');
    await until('video packets', () => c.packets() > 5, 10_000);
    const auth = { Authorization: `Bearer ${ADMIN}` };
    const listed = (await (await fetch(`${t.url}/admin/sessions`, { headers: auth })).json()) as { sessions: { id: string; transport: string }[] };
    expect(listed.sessions).toEqual([expect.objectContaining({ transport: 'whep' })]);
    const ended = await fetch(`${t.url}/admin/sessions/${listed.sessions[0].id}`, { method: 'DELETE', headers: auth });
    expect(ended.status).toBe(200);
    expect(sessions().count).toBe(0);
    expect((await fetch(c.resource!, { method: 'DELETE' })).status).toBe(404);
  });

  it('stop-video stops sending on the same m-line without renegotiation, resume sends again; admin stop and shutdown reach it', async () => {
    t = await startApp();
    const c = await post('/whep/test');
    await until('video packets', () => c.packets() > 10, 10_000);
    const [s] = sessions().list();
    await until('streaming', () => s.state === 'streaming', 5000);
    const offers: unknown[] = [];
    sessions().events.on('offer', (o) => offers.push(o));
    const mids = () => c.pc.getTransceivers().map((x) => x.mid);
    const midsBefore = mids();

    const stopped = await t.app.get(ClusterService).stopSourceVideo('test');
    expect(stopped.stopped).toBe(1);
    expect(s.state).toBe('data-only');
    await new Promise((r) => setTimeout(r, 300));
    const atStop = c.packets();
    await new Promise((r) => setTimeout(r, 500));
    expect(c.packets()).toBe(atStop);

    await sessions().resumeVideo(s.ownerId, s.id);
    expect(s.state).toBe('streaming');
    await until('packets after resume', () => c.packets() > atStop + 10, 5000);
    expect(offers).toEqual([]); // never a server offer: WHEP cannot carry one
    expect(mids()).toEqual(midsBefore);
    expect(c.pc.connectionState).toBe('connected');

    await t.close();
    expect(s.closed).toBe(true);
    t = undefined as unknown as TestApp;
  });
});
