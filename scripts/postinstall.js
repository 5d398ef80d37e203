#!/usr/bin/env node
/*
 * Applies patches/ to werift with patch-package, in this repository (`npm ci`).
 *
 * When the package is installed as a dependency of another project, patch-package (a dev
 * dependency) is absent and werift lives in the host's node_modules, not ours: a dependency's
 * postinstall cannot patch it reliably. Then this prints how to apply the patches from the
 * host project and exits 0, so that the install does not fail. See the README ("Embed it in
 * your Nest app", werift patches).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { resolve, join } = require('node:path');

const root = resolve(__dirname, '..');
const asDependency = process.env.INIT_CWD && resolve(process.env.INIT_CWD) !== root;
let bin;
try {
  bin = require.resolve('patch-package/index.js', { paths: [root] });
} catch {
  bin = undefined;
}
if (asDependency || !bin) {
  console.warn(
    `webrtc-oneway: werift is not patched automatically here. Copy ${join(root, 'patches')} ` +
      'to your project, add patch-package, and run it in your postinstall (see the README).',
  );
  process.exit(0);
}
const r = spawnSync(process.execPath, [bin], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
