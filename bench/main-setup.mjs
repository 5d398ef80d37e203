import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * What dist/main.js does to the application before it listens, so that a bench measures the
 * service as it runs: the socket.io adapter that binds the gateway's handlers without rxjs
 * (src/signalling/lean-io.adapter.ts). A build without it (`--before`) keeps Nest's own.
 * Returns what it used, for the bench's header.
 */
export function useMainsAdapter(app, dist) {
  const file = join(dist, 'signalling/lean-io.adapter.js');
  if (!existsSync(file)) return "Nest's IoAdapter (the build has no lean-io.adapter.js)";
  const { LeanIoAdapter } = createRequire(file)(file);
  app.useWebSocketAdapter(new LeanIoAdapter(app));
  return 'LeanIoAdapter';
}

/**
 * The session options of a bench's server: ICE gathered and paired on 127.0.0.1 only (as
 * test/helpers/app.ts), so that nothing leaves the host.
 */
export const LOOPBACK_SESSION = {
  announcedAddresses: ['127.0.0.1'],
  bindAddress: '127.0.0.1',
  remoteAddressFilter: (a) => a.startsWith('127.'),
};
