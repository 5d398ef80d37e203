import { Worker } from 'node:worker_threads';
import { PacketRingReader, PacketRingWriter, createRingBuffer } from './packet-ring';

const packet = (n: number, len = 100): Buffer => Buffer.alloc(len, n & 0xff);

describe('packet ring', () => {
  it('hands every packet, in order and intact, to each reader', () => {
    const ring = createRingBuffer({ slots: 8, bytes: 4096 });
    const w = new PacketRingWriter(ring);
    const a = new PacketRingReader(ring);
    const b = new PacketRingReader(ring);
    for (let i = 0; i < 5; i++) w.write(packet(i, 50 + i), i === 0);
    for (const r of [a, b]) {
      const got = [];
      for (let p = r.read(); p; p = r.read()) got.push(p);
      expect(got.map((p) => [p.data.length, p.data[0], p.keyframe])).toEqual([
        [50, 0, true],
        [51, 1, false],
        [52, 2, false],
        [53, 3, false],
        [54, 4, false],
      ]);
      expect(r.read()).toBeUndefined();
    }
  });

  it('a reader that starts late begins at the last keyframe still in the ring', () => {
    const ring = createRingBuffer({ slots: 64, bytes: 64 * 1024 });
    const w = new PacketRingWriter(ring);
    for (let i = 0; i < 20; i++) w.write(packet(i), i % 10 === 0);
    const late = new PacketRingReader(ring);
    const first = late.read()!;
    expect(first.keyframe).toBe(true);
    expect(first.data[0]).toBe(10);
    let n = 1;
    while (late.read()) n++;
    expect(n).toBe(10);
  });

  it('without a keyframe in the ring (or after forgetKeyframe) a new reader starts at the live end', () => {
    const ring = createRingBuffer({ slots: 8, bytes: 4096 });
    const w = new PacketRingWriter(ring);
    for (let i = 0; i < 20; i++) w.write(packet(i), i === 0); // the keyframe was overwritten long ago
    expect(new PacketRingReader(ring).read()).toBeUndefined();
    w.write(packet(99), true);
    w.forgetKeyframe();
    expect(new PacketRingReader(ring).read()).toBeUndefined();
  });

  it('a reader a lap behind skips what was overwritten (counted as lost) and never reads a torn packet', () => {
    const ring = createRingBuffer({ slots: 16, bytes: 1000 });
    const w = new PacketRingWriter(ring);
    const r = new PacketRingReader(ring);
    // Varied sizes so that the byte ring, not the slot table, is what laps (and wraps unevenly).
    for (let i = 0; i < 40; i++) w.write(packet(i, 90 + (i % 7) * 20), false);
    const got = [];
    for (let p = r.read(); p; p = r.read()) got.push(p);
    expect(got.length).toBeGreaterThan(0);
    expect(r.lost + got.length).toBe(40);
    for (const p of got) {
      const i = p.seq;
      expect(p.data.length).toBe(90 + (i % 7) * 20);
      expect(p.data.every((x) => x === (i & 0xff))).toBe(true);
    }
    expect(got[got.length - 1].seq).toBe(39);
  });

  it('refuses a packet larger than a quarter of the ring', () => {
    const w = new PacketRingWriter(createRingBuffer({ slots: 8, bytes: 4000 }));
    expect(w.write(packet(1, 1001), false)).toBe(false);
    expect(w.write(packet(1, 1000), false)).toBe(true);
  });

  it('wakes a reader in another thread, which sees every packet', async () => {
    const ring = createRingBuffer({ slots: 1024, bytes: 1024 * 1024 });
    const w = new PacketRingWriter(ring);
    // The reader's own code, in plain JS: Atomics.waitAsync on the write index, then drain.
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const h = new Int32Array(workerData, 0, 4);
       // A pending waitAsync does not keep a thread alive; the port does (as in media-worker.ts).
       parentPort.on('message', () => undefined);
       let seen = 0, next = 0;
       (async () => {
         while (seen < 500) {
           const r = Atomics.waitAsync(h, 0, next);
           if (r.async) await r.value;
           const write = Atomics.load(h, 0);
           seen += write - next; next = write;
         }
         parentPort.postMessage(seen);
       })();`,
      { eval: true, workerData: ring },
    );
    const seen = new Promise((resolve) => worker.once('message', resolve));
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 500; i++) {
      w.write(packet(i), false);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(await seen).toBe(500);
    await worker.terminate();
  });
});
