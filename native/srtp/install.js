'use strict';
// npm's install step for this package: node-gyp builds the addon; when it cannot (no
// compiler, no Python, no Node headers) the install still succeeds with one line, and
// webrtc-oneway uses its JavaScript SRTP. SRTP_NATIVE_BUILD=strict makes a failure fatal
// (CI, which tests the addon); the compiler's output is printed when the build fails.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

// The headers of the running Node when it has them (a distribution's or the official
// images' include/node): node-gyp would otherwise download them, which needs the network.
const args = ['rebuild'];
const local = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(local, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${local}`);

// npm puts its bundled node-gyp in npm_config_node_gyp; else one on PATH.
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { cwd: __dirname, encoding: 'utf8' })
  : spawnSync('node-gyp', args, { cwd: __dirname, encoding: 'utf8', shell: process.platform === 'win32' });
if (r.status === 0) process.exit(0);
const strict = process.env.SRTP_NATIVE_BUILD === 'strict';
if (strict) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
const why = r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`;
process.stderr.write(`webrtc-oneway-srtp: native SRTP not built (${why}); the JavaScript SRTP is used.${strict ? '' : ' Set SRTP_NATIVE_BUILD=strict to see why and fail.'}\n`);
process.exit(strict ? 1 : 0);
