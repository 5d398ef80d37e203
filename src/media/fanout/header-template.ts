import { RTP_EXTENSION_URI } from 'werift';

/** One viewer's RTP header with the fields patched per packet, and where they sit. */
export interface HeaderTemplate {
  header: Buffer;
  /** Offset of abs-send-time's 3 bytes (-1: not negotiated). */
  absAt: number;
  /** Offset of the transport-wide sequence number's 2 bytes (-1: not negotiated). */
  twccAt: number;
}

/**
 * The RTP header template: V=2, the header extensions the sender negotiated that this path
 * writes (sdes:mid, abs-send-time, transport-wide-cc), one-byte form (RFC 8285) when every id
 * and length fits, else two-byte. Returns where abs-send-time and the transport-wide
 * sequence number sit (-1: not negotiated).
 */
export function buildHeader(
  ssrc: number,
  payloadType: number,
  extensions: readonly { uri: string; id: number }[],
  mid: string | undefined,
): HeaderTemplate {
  const elements: { id: number; data: Buffer; kind: 'abs' | 'twcc' | 'mid' }[] = [];
  for (const e of extensions) {
    if (e.uri === RTP_EXTENSION_URI.sdesMid && mid) elements.push({ id: e.id, data: Buffer.from(mid, 'utf8'), kind: 'mid' });
    else if (e.uri === RTP_EXTENSION_URI.absSendTime) elements.push({ id: e.id, data: Buffer.alloc(3), kind: 'abs' });
    else if (e.uri === RTP_EXTENSION_URI.transportWideCC) elements.push({ id: e.id, data: Buffer.alloc(2), kind: 'twcc' });
  }
  elements.sort((a, b) => a.id - b.id);
  const oneByte = elements.every((e) => e.id >= 1 && e.id <= 14 && e.data.length >= 1 && e.data.length <= 16);
  const perElement = oneByte ? 1 : 2;
  const body = elements.reduce((n, e) => n + perElement + e.data.length, 0);
  const padded = (body + 3) & ~3;
  const header = Buffer.alloc(12 + (elements.length ? 4 + padded : 0));
  header[0] = elements.length ? 0x90 : 0x80;
  header[1] = payloadType & 0x7f;
  header.writeUInt32BE(ssrc >>> 0, 8);
  let absAt = -1;
  let twccAt = -1;
  if (elements.length) {
    header.writeUInt16BE(oneByte ? 0xbede : 0x1000, 12);
    header.writeUInt16BE(padded / 4, 14);
    let at = 16;
    for (const e of elements) {
      if (oneByte) header[at++] = (e.id << 4) | (e.data.length - 1);
      else {
        header[at++] = e.id;
        header[at++] = e.data.length;
      }
      if (e.kind === 'abs') absAt = at;
      if (e.kind === 'twcc') twccAt = at;
      e.data.copy(header, at);
      at += e.data.length;
    }
  }
  return { header, absAt, twccAt };
}

/**
 * Patches the per-packet fields of a header template copied to `b` at `at`: marker and
 * payload type, sequence number, timestamp, abs-send-time, and the transport-wide sequence
 * number, which is taken from (and written back to) `transport`: it is shared by every
 * sender on the transport (werift's own senders too), in send order.
 */
export function patchHeader(
  b: Buffer,
  at: number,
  t: HeaderTemplate,
  marker: boolean,
  pt: number,
  seq: number,
  ts: number,
  abs: number,
  transport: { transportSequenceNumber: number },
): void {
  b[at + 1] = (marker ? 0x80 : 0) | pt;
  b[at + 2] = seq >> 8;
  b[at + 3] = seq & 0xff;
  b.writeUInt32BE(ts, at + 4);
  if (t.absAt >= 0) {
    const a = at + t.absAt;
    b[a] = abs >> 16;
    b[a + 1] = (abs >> 8) & 0xff;
    b[a + 2] = abs & 0xff;
  }
  if (t.twccAt >= 0) {
    const wide = (transport.transportSequenceNumber + 1) & 0xffff;
    transport.transportSequenceNumber = wide;
    b[at + t.twccAt] = wide >> 8;
    b[at + t.twccAt + 1] = wide & 0xff;
  }
}
