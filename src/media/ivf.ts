/** Minimal IVF container reader (the format libvpx and ffmpeg write for VP8/VP9/AV1). */
export interface IvfHeader {
  fourcc: string;
  width: number;
  height: number;
  /** Timebase: pts * timebaseNum / timebaseDen seconds. */
  timebaseDen: number;
  timebaseNum: number;
  frameCount: number;
}

export interface IvfFrame {
  data: Buffer;
  pts: number;
}

const FILE_HEADER_MIN = 32;
const FRAME_HEADER = 12;

export function parseIvf(buf: Buffer): { header: IvfHeader; frames: IvfFrame[] } {
  if (buf.length < FILE_HEADER_MIN || buf.toString('ascii', 0, 4) !== 'DKIF') {
    throw new Error('not an IVF file (missing DKIF signature)');
  }
  const headerSize = buf.readUInt16LE(6);
  const header: IvfHeader = {
    fourcc: buf.toString('ascii', 8, 12),
    width: buf.readUInt16LE(12),
    height: buf.readUInt16LE(14),
    timebaseDen: buf.readUInt32LE(16),
    timebaseNum: buf.readUInt32LE(20),
    frameCount: buf.readUInt32LE(24),
  };
  if (header.timebaseDen === 0 || header.timebaseNum === 0) {
    throw new Error('IVF header has a zero timebase');
  }
  const frames: IvfFrame[] = [];
  let offset = Math.max(headerSize, FILE_HEADER_MIN);
  while (offset + FRAME_HEADER <= buf.length) {
    const size = buf.readUInt32LE(offset);
    const pts = Number(buf.readBigUInt64LE(offset + 4));
    const start = offset + FRAME_HEADER;
    if (start + size > buf.length) {
      throw new Error(`IVF frame at byte ${offset} is truncated`);
    }
    frames.push({ data: buf.subarray(start, start + size), pts });
    offset = start + size;
  }
  if (offset < buf.length) {
    // Fewer than 12 bytes left: a frame header cut short, not padding.
    throw new Error(`IVF frame header at byte ${offset} is truncated`);
  }
  if (frames.length === 0) throw new Error('IVF file has no frames');
  return { header, frames };
}

/** A VP8 frame is a keyframe when bit 0 of its first byte (the inverted P bit) is 0 (RFC 6386 9.1). */
export function isVp8Keyframe(frame: Buffer): boolean {
  return frame.length > 0 && (frame[0] & 0x01) === 0;
}
