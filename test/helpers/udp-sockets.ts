import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Inodes of every UDP socket on the host (IPv4 and IPv6), or only of those bound to `port`. */
function udpInodes(port?: number): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length <= 9) continue;
      if (port !== undefined && parseInt(cols[1].split(':')[1], 16) !== port) continue;
      inodes.add(cols[9]);
    }
  }
  return inodes;
}

/**
 * How many UDP sockets this process holds, all or those bound to `port` (Linux: its fds
 * matched against /proc/net/udp*).
 */
export function countOwnUdpSockets(port?: number): number {
  const udp = udpInodes(port);
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && udp.has(m[1])) n++;
  }
  return n;
}

/** Polls until the count of this process's UDP sockets is at most `limit`. */
export async function waitForUdpSocketsAtMost(limit: number, timeoutMs = 10_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let n = countOwnUdpSockets();
  while (n > limit && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    n = countOwnUdpSockets();
  }
  return n;
}
