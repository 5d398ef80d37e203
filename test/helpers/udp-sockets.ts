import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Every UDP socket on the host (IPv4 and IPv6): its inode -> its local port. */
function udpPortsByInode(): Map<string, number> {
  const portOf = new Map<string, number>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) portOf.set(cols[9], parseInt(cols[1].split(':')[1], 16));
    }
  }
  return portOf;
}

/** Local ports of the UDP sockets this process holds (Linux: its fds matched against /proc/net/udp*). */
export function ownUdpPorts(): number[] {
  const portOf = udpPortsByInode();
  const ports: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    const port = m ? portOf.get(m[1]) : undefined;
    if (port !== undefined) ports.push(port);
  }
  return ports;
}

/** How many UDP sockets this process holds, all or those bound to `port`. */
export function countOwnUdpSockets(port?: number): number {
  const ports = ownUdpPorts();
  return port === undefined ? ports.length : ports.filter((p) => p === port).length;
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
