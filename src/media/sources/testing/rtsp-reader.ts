import type { Socket } from 'node:net';

/**
 * Reads what an RTSP client sends on its connection: requests (request line, headers with
 * lower-case names, body by Content-Length) and interleaved frames (`$`, channel, length;
 * RFC 2326 section 10.12), in order.
 */
export function readRtsp(
  socket: Socket,
  on: {
    request(method: string, uri: string, headers: Map<string, string>, body: string): void;
    interleaved(frame: Buffer): void;
  },
): void {
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length === 0) return;
      if (buf[0] === 0x24) {
        if (buf.length < 4) return;
        const len = buf.readUInt16BE(2);
        if (buf.length < 4 + len) return;
        const frame = buf.subarray(0, 4 + len);
        buf = buf.subarray(4 + len);
        on.interleaved(frame);
        continue;
      }
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      const bodyLen = Number(headers.get('content-length') ?? 0);
      if (buf.length < end + 4 + bodyLen) return;
      const body = buf.subarray(end + 4, end + 4 + bodyLen).toString('utf8');
      buf = buf.subarray(end + 4 + bodyLen);
      const [method, uri] = lines[0].split(' ');
      on.request(method, uri, headers, body);
    }
  });
}
