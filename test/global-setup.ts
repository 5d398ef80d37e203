import { buildSync } from 'esbuild';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Bundles the browser client library that the demo page loads (as `npm run build:client`).
 * `npm test` runs several jest processes at once, each with this setup: every file is
 * written under a temporary name and renamed, so no test ever reads a half-written bundle.
 */
export default function globalSetup(): void {
  const root = join(__dirname, '..');
  const result = buildSync({
    entryPoints: [join(root, 'src/client/index.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    sourcemap: true,
    outfile: join(root, 'dist/public/client.js'),
    logLevel: 'warning',
    write: false,
  });
  for (const f of result.outputFiles) {
    mkdirSync(dirname(f.path), { recursive: true });
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, f.contents);
    renameSync(tmp, f.path);
  }
}
