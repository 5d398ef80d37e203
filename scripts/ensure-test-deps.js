#!/usr/bin/env node
// Makes sure the system packages the test suite drives are present: Debian's Chromium
// (the browser tests; a browser download does not work everywhere), ffmpeg, and
// redis-server and haproxy (the cluster tests).
// Installs them with apt-get when missing and we are root; otherwise says what to do.
'use strict';
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');

const wanted = [
  { bin: '/usr/bin/chromium', pkg: 'chromium' },
  // Firefox's browser tests: firefox-esr, run in a network namespace of its own (iproute2).
  { bin: '/usr/bin/firefox-esr', pkg: 'firefox-esr' },
  { bin: existsSync('/sbin/ip') ? '/sbin/ip' : '/usr/sbin/ip', pkg: 'iproute2' },
  { bin: '/usr/bin/ffmpeg', pkg: 'ffmpeg' },
  // The cluster tests: Redis and the load balancer of the compose topology.
  { bin: '/usr/bin/redis-server', pkg: 'redis-server' },
  { bin: '/usr/sbin/haproxy', pkg: 'haproxy' },
  // Parses docker-compose.yml without a container engine (`docker-compose config`).
  { bin: '/usr/bin/docker-compose', pkg: 'docker-compose' },
  // The interoperability test with a viewer that is not a browser (Python aiortc).
  { bin: '/usr/lib/python3/dist-packages/aiortc/__init__.py', pkg: 'python3-aiortc' },
  { bin: '/usr/lib/python3/dist-packages/socketio/__init__.py', pkg: 'python3-socketio' },
  { bin: '/usr/lib/python3/dist-packages/aiohttp/__init__.py', pkg: 'python3-aiohttp' },
  // The packed-package test: a loopback-only network namespace, watched with strace.
  { bin: '/usr/bin/strace', pkg: 'strace' },
];
const missing = wanted.filter((w) => !existsSync(w.bin));
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((m) => m.pkg);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt) {
  console.error(
    `[ensure-test-deps] missing: ${pkgs.join(', ')}. Install them (Debian/Ubuntu: ` +
      `sudo apt-get install -y ${pkgs.join(' ')}); the tests that need them will fail without them.`,
  );
  process.exit(0);
}
console.log(`[ensure-test-deps] installing ${pkgs.join(', ')} with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
if (!run(['update', '-q']) || !run(['install', '-y', '-q', '--no-install-recommends', ...pkgs])) {
  console.error('[ensure-test-deps] apt-get failed');
  process.exit(1);
}
