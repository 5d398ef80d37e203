/**
 * The page that hosts a published WHEP player, `@eyevinn/webrtc-player` (npm), for the
 * browser tests: `play(url, authorization)`, `unload()` (which DELETEs the resource), and
 * `decoded` (frames), counted with requestVideoFrameCallback.
 */
import { buildSync } from 'esbuild';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The player's CommonJS build bundled for a page (its `events` dependency included). */
export function playerBundle(): string {
  const out = buildSync({
    entryPoints: [require.resolve('@eyevinn/webrtc-player')],
    bundle: true,
    format: 'iife',
    globalName: 'EyevinnPlayer',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

export const PLAYER_PAGE = `<!doctype html><html><body>
<video id="v" autoplay muted playsinline></video>
<script src="/player.js"></script>
<script>
  window.decoded = 0;
  const v = document.getElementById('v');
  const count = () => { window.decoded++; v.requestVideoFrameCallback(count); };
  v.requestVideoFrameCallback(count);
  window.play = async (url, auth) => {
    // No STUN: nothing leaves the machine (the player's default is a public server).
    window.player = new EyevinnPlayer.WebRTCPlayer({ video: v, type: 'whep', iceServers: [], timeoutThreshold: 60000 });
    await window.player.load(new URL(url), auth);
  };
  window.unload = () => window.player.unload();
</script></body></html>`;


/** Serves the page and the bundle on 127.0.0.1 (an origin other than the service's). */
export async function servePlayerPage(): Promise<{ origin: string; close(): Promise<void> }> {
  const bundle = playerBundle();
  const server = createServer((req, res) => {
    const js = req.url === '/player.js';
    res.writeHead(200, { 'Content-Type': js ? 'text/javascript' : 'text/html' }).end(js ? bundle : PLAYER_PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
