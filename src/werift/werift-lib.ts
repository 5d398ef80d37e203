import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The werift release every fix in this directory was written against (and read from its
 * compiled `lib/`). Another release is refused at boot: a fix that silently no longer
 * matches would bring back the bug it fixes, or break werift in a new way.
 */
export const WERIFT_VERSION = '0.25.2';

/**
 * werift's package directory, found from its main export: the package's `exports` map
 * lists only `.`, `./nonstandard` and `./polyfill`, so `werift/lib/...` and even
 * `werift/package.json` cannot be required by name. Requiring an absolute path bypasses
 * the map and returns the very module instances werift itself uses (CommonJS caches by
 * real path), which is what lets a fix reach classes the main export does not expose.
 */
export function weriftRoot(): string {
  // .../werift/lib/webrtc/src/index.js -> .../werift
  return join(dirname(require.resolve('werift')), '..', '..', '..');
}

export function installedWeriftVersion(root = weriftRoot()): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: string; version?: string };
  if (pkg.name !== 'werift') throw new Error(`expected werift's package.json in ${root}, found ${pkg.name}`);
  return String(pkg.version);
}

/**
 * One of werift's compiled CommonJS modules, e.g. `weriftModule('ice/src/ice.js')`.
 * werift's main export is loaded first: its modules require one another in cycles, and
 * loading an inner module before the index leaves the index without some of its exports
 * (`MediaStreamTrack is not a constructor`).
 */
export function weriftModule<T = Record<string, any>>(path: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('werift');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(weriftRoot(), 'lib', path)) as T;
}
