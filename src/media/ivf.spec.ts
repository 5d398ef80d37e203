import { isVp8Keyframe, parseIvf } from './ivf';

interface BuildOptions {
  signature?: string;
  headerSize?: number;
  fourcc?: string;
  width?: number;
  height?: number;
  timebaseDen?: number;
  timebaseNum?: number;
  frames?: { data: Buffer; pts: number | bigint }[];
  /** Bytes appended verbatim after the frames. */
  trailer?: Buffer;
}

/** Builds an IVF file: 32-byte file header (or `headerSize`), then 12-byte frame headers + data. */
function buildIvf(o: BuildOptions = {}): Buffer {
  const headerSize = o.headerSize ?? 32;
  const frames = o.frames ?? [];
  const header = Buffer.alloc(Math.max(headerSize, 32));
  header.write(o.signature ?? 'DKIF', 0, 'ascii');
  header.writeUInt16LE(0, 4); // version
  header.writeUInt16LE(headerSize, 6);
  header.write(o.fourcc ?? 'VP80', 8, 'ascii');
  header.writeUInt16LE(o.width ?? 320, 12);
  header.writeUInt16LE(o.height ?? 240, 14);
  header.writeUInt32LE(o.timebaseDen ?? 30, 16);
  header.writeUInt32LE(o.timebaseNum ?? 1, 20);
  header.writeUInt32LE(frames.length, 24);
  const parts: Buffer[] = [header];
  for (const f of frames) {
    const fh = Buffer.alloc(12);
    fh.writeUInt32LE(f.data.length, 0);
    fh.writeBigUInt64LE(BigInt(f.pts), 4);
    parts.push(fh, f.data);
  }
  if (o.trailer) parts.push(o.trailer);
  return Buffer.concat(parts);
}

const key = Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]); // bit0 = 0: keyframe
const delta = Buffer.from([0x31, 0x01, 0x00, 0xaa]); // bit0 = 1: interframe

describe('parseIvf', () => {
  it('reads the header and every frame, in order, with its pts', () => {
    const big = Buffer.alloc(5000, 7);
    const { header, frames } = parseIvf(
      buildIvf({
        width: 640,
        height: 360,
        timebaseDen: 90000,
        timebaseNum: 3,
        frames: [
          { data: key, pts: 0 },
          { data: delta, pts: 1 },
          { data: big, pts: 2n ** 40n },
        ],
      }),
    );
    expect(header).toEqual({
      fourcc: 'VP80',
      width: 640,
      height: 360,
      timebaseDen: 90000,
      timebaseNum: 3,
      frameCount: 3,
    });
    expect(frames.map((f) => f.pts)).toEqual([0, 1, 2 ** 40]);
    expect(frames[0].data.equals(key)).toBe(true);
    expect(frames[1].data.equals(delta)).toBe(true);
    expect(frames[2].data.equals(big)).toBe(true);
  });

  it('honours a file header larger than 32 bytes', () => {
    const { frames } = parseIvf(buildIvf({ headerSize: 48, frames: [{ data: key, pts: 5 }] }));
    expect(frames).toHaveLength(1);
    expect(frames[0].pts).toBe(5);
    expect(frames[0].data.equals(key)).toBe(true);
  });

  it('accepts a zero-length frame', () => {
    const { frames } = parseIvf(buildIvf({ frames: [{ data: key, pts: 0 }, { data: Buffer.alloc(0), pts: 1 }] }));
    expect(frames.map((f) => f.data.length)).toEqual([key.length, 0]);
  });

  it('refuses a file without the DKIF signature', () => {
    expect(() => parseIvf(buildIvf({ signature: 'RIFF', frames: [{ data: key, pts: 0 }] }))).toThrow(/DKIF/);
  });

  it('refuses a buffer shorter than the file header', () => {
    expect(() => parseIvf(Buffer.from('DKIF'))).toThrow(/DKIF/);
    expect(() => parseIvf(Buffer.alloc(0))).toThrow(/DKIF/);
  });

  it('refuses a zero timebase (either half)', () => {
    expect(() => parseIvf(buildIvf({ timebaseDen: 0, frames: [{ data: key, pts: 0 }] }))).toThrow(/zero timebase/);
    expect(() => parseIvf(buildIvf({ timebaseNum: 0, frames: [{ data: key, pts: 0 }] }))).toThrow(/zero timebase/);
  });

  it('refuses a frame whose data is cut short', () => {
    const whole = buildIvf({ frames: [{ data: key, pts: 0 }, { data: Buffer.alloc(100, 1), pts: 1 }] });
    expect(() => parseIvf(whole.subarray(0, whole.length - 1))).toThrow(/truncated/);
  });

  it('refuses a file that ends inside a frame header', () => {
    // A few bytes of a 12-byte frame header after the last complete frame.
    const file = buildIvf({ frames: [{ data: key, pts: 0 }], trailer: Buffer.from([0x10, 0, 0, 0, 1]) });
    expect(() => parseIvf(file)).toThrow(/truncated/);
  });

  it('refuses a file with no frames', () => {
    expect(() => parseIvf(buildIvf())).toThrow(/no frames/);
  });
});

describe('isVp8Keyframe', () => {
  it('is true when bit 0 of the first byte (inverted P bit) is 0', () => {
    expect(isVp8Keyframe(key)).toBe(true);
    expect(isVp8Keyframe(Buffer.from([0x00]))).toBe(true);
    expect(isVp8Keyframe(Buffer.from([0xfe, 0xff]))).toBe(true);
  });

  it('is false for an interframe (bit 0 set), whatever the other bits', () => {
    expect(isVp8Keyframe(delta)).toBe(false);
    expect(isVp8Keyframe(Buffer.from([0x01]))).toBe(false);
    expect(isVp8Keyframe(Buffer.from([0xff, 0x00]))).toBe(false);
  });

  it('is false for an empty frame', () => {
    expect(isVp8Keyframe(Buffer.alloc(0))).toBe(false);
  });
});
