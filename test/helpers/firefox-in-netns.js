#!/usr/bin/env node
/**
 * Firefox inside a private network namespace, for the browser tests (see browser.ts).
 *
 * puppeteer launches this script as Firefox's executable. It runs Firefox (FIREFOX_PATH)
 * with `ip netns exec $WEBRTC_TEST_NETNS`, where its only network is a veth pair with a
 * test address (so its WebRTC host candidate is that address). Firefox's WebDriver BiDi
 * server listens on the namespace's own 127.0.0.1, which puppeteer cannot reach, so the
 * port is relayed (to the same port number here): a helper inside the namespace listens on a Unix socket (not bound to a
 * namespace) and a listener here on 127.0.0.1 pipes to it. The "listening" line puppeteer
 * waits for is rewritten to the relayed port; every other line passes through.
 */
'use strict';
const { spawn } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync } = require('node:fs');
const net = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const ns = process.env.WEBRTC_TEST_NETNS;
const firefox = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';
if (!ns) {
  process.stderr.write('firefox-in-netns: WEBRTC_TEST_NETNS is not set\n');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'ff-relay-'));
const sock = join(dir, 'bidi.sock');
const children = [];

const ff = spawn('ip', ['netns', 'exec', ns, firefox, ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'pipe'] });
children.push(ff);
let relayed = false;
/** Passes Firefox's output through line by line, the BiDi "listening" line rewritten. */
function passThrough(stream, out) {
  let buffered = '';
  stream.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const m = /^WebDriver BiDi listening on ws:\/\/(127\.0\.0\.1|localhost):(\d+)/.exec(line);
      if (m) {
        if (!relayed) relay(m[1], Number(m[2]), out);
        relayed = true;
      } else out.write(line + '\n');
    }
  });
}
passThrough(ff.stdout, process.stdout);
passThrough(ff.stderr, process.stderr);

/** The namespace's 127.0.0.1:port, reachable from here as 127.0.0.1:<another port>. */
function relay(host, port, out) {
  const inside = `require('net').createServer((s) => { const c = require('net').connect(${port}, '127.0.0.1');
    s.pipe(c).pipe(s); s.on('error', () => c.destroy()); c.on('error', () => s.destroy()); }).listen(${JSON.stringify(sock)});`;
  children.push(spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', inside], { stdio: 'inherit' }));
  const pipeTo = (s) => {
    const c = net.connect(sock);
    s.pipe(c).pipe(s);
    s.on('error', () => c.destroy());
    c.on('error', () => s.destroy());
  };
  const outside = net.createServer(pipeTo);
  outside.unref();
  // "localhost" may resolve to ::1 first: listen there too.
  const outside6 = net.createServer(pipeTo);
  outside6.unref();
  outside6.on('error', () => undefined);
  const started = Date.now();
  const waitForSocket = () => {
    if (!existsSync(sock)) {
      if (Date.now() - started > 10_000) return process.stderr.write('firefox-in-netns: relay did not start\n');
      return setTimeout(waitForSocket, 20);
    }
    // The same port number here: Firefox refuses a WebSocket whose Host header names another.
    outside.once('error', (err) => process.stderr.write(`firefox-in-netns: cannot relay port ${port}: ${err.message}\n`));
    if (host === 'localhost') outside6.listen(port, '::1');
    outside.listen(port, '127.0.0.1', () => {
      out.write(`WebDriver BiDi listening on ws://${host}:${port}\n`);
    });
  };
  waitForSocket();
}

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
ff.on('exit', (code, signal) => {
  cleanup();
  process.exit(code ?? (signal ? 1 : 0));
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    ff.kill(sig);
    setTimeout(() => {
      cleanup();
      process.exit(1);
    }, 3000).unref();
  });
}
