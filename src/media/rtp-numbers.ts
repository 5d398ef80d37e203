// RTP sequence numbers (16 bits) and timestamps (32 bits) wrap: compare them as signed distances.

export const SEQ_MOD = 0x10000;
export const TS_MOD = 0x1_0000_0000;

/** a - b as a signed 16-bit distance. */
export function seqDiff(a: number, b: number): number {
  const d = (a - b) & 0xffff;
  return d >= 0x8000 ? d - SEQ_MOD : d;
}

/** a - b as a signed 32-bit distance. */
export function tsDiff(a: number, b: number): number {
  const d = (a - b) >>> 0;
  return d >= 0x8000_0000 ? d - TS_MOD : d;
}
