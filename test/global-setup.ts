import { buildSync } from 'esbuild';
import { join } from 'node:path';

/** Bundles the browser client library that the demo page loads (as `npm run build:client`). */
export default function globalSetup(): void {
  const root = join(__dirname, '..');
  buildSync({
    entryPoints: [join(root, 'src/client/index.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    sourcemap: true,
    outfile: join(root, 'dist/public/client.js'),
    logLevel: 'warning',
  });
}
