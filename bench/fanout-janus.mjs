/**
 * Janus (Debian package `janus`, streaming plugin) as the comparison server of
 * bench/fanout.mjs: started with its own configuration in a temporary directory, loopback
 * only (HTTP API and ICE on 127.0.0.1), one RTP mountpoint (VP8) that the bench feeds with
 * the very packets its own source publishes.
 *
 *   const janus = await startJanus({ wrap, iceInterface });  // janus.apiUrl, .rtpPort, .pid
 *   janus.usage();                                           // { cpuMs, rssMB } from /proc
 *   await janus.stop();
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LIB = '/usr/lib/x86_64-linux-gnu/janus';
export const JANUS_BIN = process.env.JANUS ?? '/usr/bin/janus';
export const MOUNTPOINT_ID = 1;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK_MS = 1000 / 100; // Linux USER_HZ

/**
 * `wrap`: a command prefix (e.g. nsenter into a network namespace, then taskset); Janus is
 * exec'd by it, so `pid` is Janus's own. `iceInterface`: the one interface Janus gathers on.
 */
export async function startJanus({ wrap = [], iceInterface = 'lo', debugLevel = 4 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-janus-'));
  const configs = join(dir, 'etc');
  mkdirSync(configs);
  const httpPort = await freePort();
  const rtpPort = await freeUdpPort();
  const keep = ['libjanus_streaming.so'];
  const plugins = readdirSoNames(join(LIB, 'plugins')).filter((p) => !keep.includes(p));
  const transports = readdirSoNames(join(LIB, 'transports')).filter((p) => p !== 'libjanus_http.so');
  writeFileSync(
    join(configs, 'janus.jcfg'),
    `general: {
  configs_folder = "${configs}"
  plugins_folder = "${LIB}/plugins"
  transports_folder = "${LIB}/transports"
  events_folder = "${LIB}/events"
  loggers_folder = "${LIB}/loggers"
  debug_level = ${debugLevel}
  log_to_file = "${join(dir, 'janus.log')}"
  session_timeout = 0
  server_name = "fanout-bench"
}
certificates: {}
media: {
  rtp_port_range = "30000-60000"
}
nat: {
  nice_debug = ${process.env.JANUS_NICE_DEBUG ? "true" : "false"}
  full_trickle = false
  ice_lite = false
  ignore_mdns = true
  ice_enforce_list = "${iceInterface}"
}
plugins: {
  disable = "${plugins.join(',')}"
}
transports: {
  disable = "${transports.join(',')}"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
`,
  );
  writeFileSync(
    join(configs, 'janus.transport.http.jcfg'),
    `general: {
  json = "plain"
  base_path = "/janus"
  http = true
  port = ${httpPort}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
`,
  );
  writeFileSync(
    join(configs, 'janus.plugin.streaming.jcfg'),
    `general: {
}
bench: {
  type = "rtp"
  id = ${MOUNTPOINT_ID}
  description = "fanout bench feed"
  audio = false
  video = true
  videoport = ${rtpPort}
  videoiface = "127.0.0.1"
  videopt = 96
  videocodec = "vp8"
}
`,
  );
  const argv = ['--configs-folder', configs, '--config', join(configs, 'janus.jcfg')];
  const [cmd, ...pre] = wrap.length ? wrap : [JANUS_BIN];
  const args = wrap.length ? [...pre, JANUS_BIN, ...argv] : argv;
  let log = '';
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => (log = (log + d).slice(-50_000)));
  child.stderr.on('data', (d) => (log = (log + d).slice(-50_000)));
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const apiUrl = `http://127.0.0.1:${httpPort}/janus`;
  // Ready when the HTTP server is up and the streaming plugin has its mountpoint (read from
  // its log: the API may be in another network namespace than this process).
  const end = Date.now() + 15_000;
  while (!(/HTTP webserver started/.test(log) && /Streaming plugin initialized/i.test(log))) {
    if (child.exitCode !== null) throw new Error(`janus exited at start (${child.exitCode}):\n${log.slice(-3000)}`);
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`janus did not come up within 15 s:\n${log.slice(-3000)}`);
    }
    await sleep(100);
  }
  const version = /Janus version: \d+ \(([^)]+)\)/.exec(log)?.[1];
  // The janus process itself (nsenter and taskset exec it, so the pid is the same).
  const pid = child.pid;
  return {
    pid,
    version,
    apiUrl,
    rtpPort,
    dir,
    /** Janus's log file (its stdout is block-buffered in a pipe). */
    log: () => {
      try {
        return `${readFileSync(join(dir, 'janus.log'), 'utf8')}\n--- stdout/stderr ---\n${log}`;
      } catch {
        return log;
      }
    },
    /** CPU time (ms, all threads) and RSS (MB) of the janus process, from /proc. */
    usage() {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuMs = (Number(f[11]) + Number(f[12])) * TICK_MS;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return { cpuMs, rssMB: rss ? Number(rss[1]) / 1024 : NaN };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
        if (!done) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readdirSoNames(dir) {
  try {
    return [...new Set(readdirSync(dir).filter((f) => /^libjanus_.*\.so$/.test(f)))];
  } catch {
    return [];
  }
}
