/**
 * Issue #10, failure 2: a start refused because the UDP port range is full must leave
 * nothing behind (werift created a socket for the transport, then found no port to bind).
 * Issue #15, point 8: with a port range, the refusal says the range is full.
 */
import { Logger } from '@nestjs/common';
import { createSocket, Socket } from 'node:dgram';
import { ErrorCode } from '../../src/protocol';
import { SessionService } from '../../src/session/session.service';
import { countOwnUdpSockets } from '../helpers/udp-sockets';
import { request } from '../helpers/werift-viewer';
import { HardenedApp, startHardenedApp, waitUntil } from './app';

const activeHandles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

function bind(port: number): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

/** Two consecutive free UDP ports on 127.0.0.1, held by us. */
async function holdTwoPorts(): Promise<{ range: [number, number]; held: Socket[] }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 40_000 + Math.floor(Math.random() * 20_000);
    const held: Socket[] = [];
    try {
      held.push(await bind(base), await bind(base + 1));
      return { range: [base, base + 1], held };
    } catch {
      for (const s of held) s.close();
    }
  }
  throw new Error('no two free consecutive ports');
}

describe('starts refused because the UDP port range is full', () => {
  let t: HardenedApp;
  let held: Socket[] = [];

  afterEach(async () => {
    for (const s of held.splice(0)) s.close();
    await t?.close();
  });

  it('400 refused starts leave the handle count and the UDP sockets where they were', async () => {
    const ports = await holdTwoPorts();
    held = ports.held;
    // The per-client limits are off here: this test is about what a refusal leaves behind.
    t = await startHardenedApp({ session: { portRange: ports.range }, streaming: { limits: { eventsPerSecond: 0, maxSessionsInProgressPerAddress: 0 } } });
    const sessions = t.app.get(SessionService);
    const s = await t.connect();
    // One refused start first, so that every lazily created handle exists before we count.
    const first = await request(s, 'session:start', {});
    expect(first).toEqual({ ok: false, error: { code: ErrorCode.CAPACITY_EXCEEDED, message: 'no free UDP port for a new session' } });
    await new Promise((r) => setTimeout(r, 200));
    const handlesBefore = activeHandles();
    const udpBefore = countOwnUdpSockets();
    for (let batch = 0; batch < 40; batch++) {
      const results = await Promise.all(Array.from({ length: 10 }, () => request(s, 'session:start', {}, 15_000)));
      for (const r of results) expect(r).toEqual({ ok: false, error: { code: ErrorCode.CAPACITY_EXCEEDED, message: expect.any(String) } });
    }
    expect(sessions.count).toBe(0);
    await waitUntil(`handles back to ${handlesBefore} (now ${activeHandles()})`, () => activeHandles() <= handlesBefore, 5_000);
    expect(countOwnUdpSockets()).toBeLessThanOrEqual(udpBefore);
  }, 120_000);
});

describe('a host where werift gathers no candidate (issue #15, point 8)', () => {
  it('warns at startup and refuses with NO_ICE_CANDIDATE, not "no free UDP port"', async () => {
    // Only loopback, which werift never gathers on; no announced address, no port range.
    // The module object itself (a TypeScript namespace import would be a frozen copy).
    const os = require('node:os') as typeof import('node:os');
    const lo = os.networkInterfaces().lo ?? [];
    const ifaces = jest.spyOn(os, 'networkInterfaces').mockReturnValue({ lo });
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let t: HardenedApp | undefined;
    try {
      t = await startHardenedApp({ session: { announcedAddresses: undefined, bindAddress: undefined } });
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/gather no ICE candidate.*announcedAddresses/s);
      const s = await t.connect();
      for (const payload of [{}]) {
        const res = await request(s, 'session:start', payload);
        expect(res).toEqual({
          ok: false,
          error: { code: ErrorCode.NO_ICE_CANDIDATE, message: expect.stringMatching(/no usable network interface and no announced address/) },
        });
      }
      expect(t.app.get(SessionService).count).toBe(0);
    } finally {
      ifaces.mockRestore();
      warn.mockRestore();
      await t?.close();
    }
  });
});
