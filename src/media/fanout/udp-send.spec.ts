import { createSocket, Socket } from 'node:dgram';
import { UdpSend } from './udp-send';

/** The lean path's UDP send on real loopback sockets (it calls Node internals: check them). */
describe('UdpSend', () => {
  let a: Socket;
  let b: Socket;
  beforeEach(async () => {
    a = createSocket('udp4');
    b = createSocket('udp4');
    await Promise.all([new Promise<void>((r) => a.bind(0, '127.0.0.1', r)), new Promise<void>((r) => b.bind(0, '127.0.0.1', r))]);
  });
  afterEach(() => {
    for (const s of [a, b]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  });

  it('sends a view of a buffer synchronously, so the buffer can be reused at once', async () => {
    const udp = UdpSend.create(a);
    expect(udp).toBeDefined();
    const got: Buffer[] = [];
    const arrived = new Promise<void>((r) =>
      b.on('message', (m) => {
        got.push(m);
        if (got.length === 2) r();
      }),
    );
    const buf = Buffer.alloc(100);
    buf.fill(1, 10, 60);
    expect(udp!.send([new Uint8Array(buf.buffer, buf.byteOffset + 10, 50)], b.address().port, '127.0.0.1')).toBeGreaterThan(0);
    // Reused at once: the first datagram must still hold the first contents.
    buf.fill(2, 10, 60);
    expect(udp!.send([new Uint8Array(buf.buffer, buf.byteOffset + 10, 50)], b.address().port, '127.0.0.1')).toBeGreaterThan(0);
    await arrived;
    expect(got[0].equals(Buffer.alloc(50, 1))).toBe(true);
    expect(got[1].equals(Buffer.alloc(50, 2))).toBe(true);
  });

  it('reports a closed socket as an error, without throwing', () => {
    const udp = UdpSend.create(a)!;
    a.close();
    expect(udp.send([new Uint8Array(10)], b.address().port, '127.0.0.1')).toBeLessThan(0);
  });
});
