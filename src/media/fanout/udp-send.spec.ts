import { createSocket, Socket } from 'node:dgram';
import { loadNativeSrtp } from './srtp';
import { UdpSend } from './udp-send';

const addon = loadNativeSrtp();

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

  it('sends through the native sendto when the addon is built (always under CI), else through libuv', async () => {
    if (!addon && process.env.CI) throw new Error('the native addon (native/srtp) is not built');
    const udp = UdpSend.create(a)!;
    expect(udp.native).toBe(addon !== undefined && typeof addon.sendto === 'function');
    const got = new Promise<Buffer>((r) => b.once('message', (m) => r(m)));
    const buf = Buffer.from('0123456789abcdef');
    expect(udp.send([new Uint8Array(buf.buffer, buf.byteOffset + 4, 8)], b.address().port, '127.0.0.1')).toBe(9);
    expect((await got).toString()).toBe('456789ab');
  });

  it('sends equal segments and a shorter last one as separate datagrams in one segmented (GSO) send', async () => {
    if (!addon && process.env.CI) throw new Error('the native addon (native/srtp) is not built');
    const udp = UdpSend.create(a)!;
    if (!addon) {
      expect(udp.canSegment('127.0.0.1')).toBe(false);
      return;
    }
    expect(udp.canSegment('127.0.0.1')).toBe(true);
    expect(udp.canSegment('::1')).toBe(false);
    const got: Buffer[] = [];
    const arrived = new Promise<void>((r) =>
      b.on('message', (m) => {
        got.push(m);
        if (got.length === 4) r();
      }),
    );
    const buf = Buffer.alloc(3 * 1200 + 700);
    for (let i = 0; i < 4; i++) buf.fill(i + 1, i * 1200, Math.min(buf.length, (i + 1) * 1200));
    expect(udp.sendSegments(buf, 0, buf.length, 1200, b.address().port, '127.0.0.1')).toBe(buf.length);
    await arrived;
    expect(got.map((m) => m.length)).toEqual([1200, 1200, 1200, 700]);
    got.forEach((m, i) => expect(m.equals(Buffer.alloc(m.length, i + 1))).toBe(true));
  });

  it('with SRTP_NATIVE=0 sends through libuv only', async () => {
    const before = process.env.SRTP_NATIVE;
    process.env.SRTP_NATIVE = '0';
    let udp: UdpSend;
    try {
      udp = UdpSend.create(a)!;
    } finally {
      if (before === undefined) delete process.env.SRTP_NATIVE;
      else process.env.SRTP_NATIVE = before;
    }
    expect(udp.native).toBe(false);
    const got = new Promise<Buffer>((r) => b.once('message', (m) => r(m)));
    expect(udp.send([Buffer.from('hello')], b.address().port, '127.0.0.1')).toBeGreaterThan(0);
    expect((await got).toString()).toBe('hello');
  });
});
