/**
 * Run by package.e2e-spec.ts inside the network namespace (node -r test/helpers/ts-register.js):
 * waits for the fresh app's ready.json, then runs werift viewers (test/helpers/werift-viewer.ts)
 * through stop and resume, in the client library's flow (data channel first) and with a
 * recvonly video offer. Prints one JSON line: { ok, steps } or { ok: false, error }.
 */
import { existsSync, readFileSync } from 'node:fs';
import { io } from 'socket.io-client';
import type { ClientSocket } from '../../src/client/streaming-client';
import { WeriftViewer, ok } from '../helpers/werift-viewer';

async function main(readyFile: string): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  while (!existsSync(readyFile)) {
    if (Date.now() > deadline) throw new Error('the app did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const { port } = JSON.parse(readFileSync(readyFile, 'utf8')) as { port: number };
  const steps: string[] = [];
  for (const flow of ['data-first', 'client'] as const) {
    const socket: ClientSocket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const v = new WeriftViewer(socket);
    try {
      if (flow === 'data-first') await v.startDataFirst();
      else await v.startWithOffer();
      await v.waitForState('streaming');
      await v.waitForPackets(10);
      await v.roundTrip('ping', (m) => m === 'pong');
      steps.push(`${flow}: streaming`);
      await ok(socket, 'session:stop-video', { sessionId: v.sessionId });
      if (v.state !== 'data-only') throw new Error(`after stop: ${v.state}`);
      // docs/protocol.md: a video m-line that is the BUNDLE tag (the client's own offer put it
      // first) is parked `inactive`; otherwise it is rejected (port 0).
      const video = /^m=video[^]*?(?=^m=|(?![^]))/m.exec(v.pc.remoteDescription!.sdp)?.[0] ?? '';
      const stopped = flow === 'data-first' ? /^m=video 0 /.test(video) : /^a=inactive\r?$/m.test(video);
      if (!stopped) throw new Error(`the stop offer did not ${flow === 'data-first' ? 'reject' : 'park'} the video`);
      if (!/a=setup:actpass/.test(v.pc.remoteDescription!.sdp)) throw new Error('the stop offer is not actpass');
      await v.roundTrip('ping', (m) => m === 'pong');
      steps.push(`${flow}: data-only`);
      const keyframes = v.keyframes;
      await ok(socket, 'session:resume-video', { sessionId: v.sessionId });
      await v.waitForPackets(v.packets + 10);
      if (v.keyframes <= keyframes) throw new Error('no keyframe after resume');
      await v.roundTrip('ping', (m) => m === 'pong');
      steps.push(`${flow}: resumed`);
    } finally {
      await v.close();
      socket.disconnect();
    }
  }
  return steps;
}

main(process.argv[2])
  .then((steps) => {
    console.log(JSON.stringify({ ok: true, steps }));
    process.exit(0);
  })
  .catch((err: Error) => {
    console.log(JSON.stringify({ ok: false, error: err.message }));
    process.exit(1);
  });
