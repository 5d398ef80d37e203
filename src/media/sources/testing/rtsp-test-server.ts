import { createServer, Server, Socket } from 'node:net';
import { RtpPacket } from 'werift';
import { IvfPlayer } from '../ivf-player';
import { readRtsp } from './rtsp-reader';

/**
 * A minimal RTSP server for tests (RFC 2326 subset: OPTIONS, DESCRIBE, SETUP with TCP
 * interleaved transport, PLAY, GET_PARAMETER, TEARDOWN). Each client is sent a VP8 IVF
 * clip, looped, from its first frame, as RTP over the RTSP connection. Listens on
 * 127.0.0.1 only.
 */
export class RtspTestServer {
  private server?: Server;
  private readonly clients = new Set<Socket>();
  private readonly players = new Set<IvfPlayer>();
  /** How many PLAY requests were served. */
  plays = 0;

  constructor(private readonly ivf: Buffer) {}

  get port(): number {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('not listening');
    return addr.port;
  }

  url(path = 'stream'): string {
    return `rtsp://127.0.0.1:${this.port}/${path}`;
  }

  /** Listens on 127.0.0.1:port (0 = ephemeral). */
  async listen(port = 0): Promise<void> {
    this.server = createServer((socket) => this.onClient(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops sending media to every client but keeps the connections open (a hung camera). */
  freeze(): void {
    for (const p of this.players) p.stop();
  }

  /** Drops every client connection (the server keeps listening). */
  dropClients(): void {
    for (const p of this.players) p.stop();
    this.players.clear();
    for (const c of this.clients) c.destroy();
    this.clients.clear();
  }

  async close(): Promise<void> {
    this.dropClients();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private onClient(socket: Socket): void {
    this.clients.add(socket);
    let player: IvfPlayer | undefined;
    let channel = 0;
    const session = String(Math.floor(Math.random() * 1e9));
    const cleanup = () => {
      player?.stop();
      if (player) this.players.delete(player);
      player = undefined;
      this.clients.delete(socket);
    };
    socket.on('close', cleanup);
    socket.on('error', cleanup);
    const reply = (cseq: string, headers: Record<string, string> = {}, body = '') => {
      let text = `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n`;
      for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
      if (body) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      socket.write(`${text}\r\n${body}`);
    };
    readRtsp(socket, {
      // Interleaved data from the client (RTCP receiver reports): skipped.
      interleaved: () => undefined,
      request: (method, uri, headers) => {
        const cseq = headers.get('cseq') ?? '0';
        switch (method) {
          case 'OPTIONS':
            reply(cseq, { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN' });
            break;
          case 'DESCRIBE': {
            const sdp = [
              'v=0',
              'o=- 0 0 IN IP4 127.0.0.1',
              's=test',
              'c=IN IP4 0.0.0.0',
              't=0 0',
              'a=control:*',
              'm=video 0 RTP/AVP 96',
              'a=rtpmap:96 VP8/90000',
              'a=control:track0',
              '',
            ].join('\r\n');
            reply(cseq, { 'Content-Type': 'application/sdp', 'Content-Base': `${uri.replace(/\/$/, '')}/` }, sdp);
            break;
          }
          case 'SETUP': {
            const transport = headers.get('transport') ?? '';
            const m = /interleaved=(\d+)/.exec(transport);
            if (!/TCP/i.test(transport)) {
              socket.write(`RTSP/1.0 461 Unsupported Transport\r\nCSeq: ${cseq}\r\n\r\n`);
              break;
            }
            channel = m ? Number(m[1]) : 0;
            reply(cseq, {
              Transport: `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}`,
              Session: `${session};timeout=60`,
            });
            break;
          }
          case 'PLAY':
            reply(cseq, { Session: session, Range: 'npt=0.000-' });
            this.plays++;
            player?.stop();
            player = new IvfPlayer({
              data: this.ivf,
              loop: true,
              onPacket: (p: RtpPacket) => {
                const rtp = p.serialize();
                const frame = Buffer.alloc(4);
                frame[0] = 0x24;
                frame[1] = channel;
                frame.writeUInt16BE(rtp.length, 2);
                if (!socket.destroyed) socket.write(Buffer.concat([frame, rtp]));
              },
            });
            this.players.add(player);
            player.start();
            break;
          case 'TEARDOWN':
            reply(cseq, { Session: session });
            cleanup();
            socket.end();
            break;
          default:
            reply(cseq, { Session: session });
        }
      },
    });
  }
}

/**
 * An RTSP relay for tests: an encoder publishes to it (ffmpeg's RTSP output: ANNOUNCE, SETUP
 * with `mode=record`, RECORD, RTP interleaved over TCP), and every player (DESCRIBE, SETUP,
 * PLAY, interleaved over TCP) is sent the publisher's SDP and its RTP and RTCP, track by
 * track. It stands in for a camera that sends what ffmpeg encodes, e.g. H.264 + AAC:
 * `ffmpeg -re -f lavfi -i testsrc2 -f lavfi -i sine -c:v libx264 -c:a aac -f rtsp
 * -rtsp_transport tcp rtsp://127.0.0.1:PORT/cam`. One publisher per path; 127.0.0.1 only.
 */
export class RtspRelayServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly paths = new Map<string, { sdp: string; publisher?: Socket; channels: Map<number, number>; players: Set<Player> }>();
  /** How many PLAY requests were served. */
  plays = 0;

  get port(): number {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('not listening');
    return addr.port;
  }

  url(path = 'cam'): string {
    return `rtsp://127.0.0.1:${this.port}/${path}`;
  }

  /** Whether a publisher is recording on `path`. */
  publishing(path = 'cam'): boolean {
    return !!this.paths.get(path)?.publisher;
  }

  async listen(port = 0): Promise<void> {
    this.server = createServer((socket) => this.onClient(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.paths.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private onClient(socket: Socket): void {
    this.sockets.add(socket);
    const session = String(Math.floor(Math.random() * 1e9));
    // As a player: its track index -> its interleaved channel; as a publisher: channel -> track.
    const player: Player = { socket, channels: new Map(), playing: false };
    let path: string | undefined;
    const cleanup = () => {
      this.sockets.delete(socket);
      for (const [name, p] of this.paths) {
        p.players.delete(player);
        if (p.publisher === socket) this.paths.delete(name);
      }
    };
    socket.on('close', cleanup);
    socket.on('error', cleanup);
    const reply = (cseq: string, headers: Record<string, string> = {}, body = '', status = '200 OK') => {
      let text = `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\n`;
      for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
      if (body) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      socket.write(`${text}\r\n${body}`);
    };
    const pathOf = (uri: string) => new URL(uri).pathname.replace(/^\/+/, '').split('/')[0];
    const trackOf = (uri: string) => Number(/streamid=(\d+)/.exec(uri)?.[1] ?? 0);
    readRtsp(socket, {
      interleaved: (frame) => {
        const p = path ? this.paths.get(path) : undefined;
        if (p && p.publisher === socket) this.relay(p, frame);
      },
      request: (method, uri, headers, body) => {
        const cseq = headers.get('cseq') ?? '0';
        switch (method) {
          case 'OPTIONS':
            reply(cseq, { Public: 'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, RECORD, PLAY, TEARDOWN' });
            break;
          case 'ANNOUNCE':
            path = pathOf(uri);
            this.paths.set(path, { sdp: body, publisher: socket, channels: new Map(), players: new Set() });
            reply(cseq);
            break;
          case 'DESCRIBE': {
            const p = this.paths.get(pathOf(uri));
            if (!p) {
              reply(cseq, {}, '', '404 Not Found');
              break;
            }
            reply(cseq, { 'Content-Type': 'application/sdp', 'Content-Base': `${uri.replace(/\/$/, '')}/` }, p.sdp);
            break;
          }
          case 'SETUP': {
            const transport = headers.get('transport') ?? '';
            const m = /interleaved=(\d+)/.exec(transport);
            if (!/TCP/i.test(transport) || !m) {
              reply(cseq, {}, '', '461 Unsupported Transport');
              break;
            }
            const channel = Number(m[1]);
            path ??= pathOf(uri);
            const p = this.paths.get(path);
            if (!p) {
              reply(cseq, {}, '', '404 Not Found');
              break;
            }
            if (/mode=\"?record/i.test(transport)) p.channels.set(channel, trackOf(uri));
            else player.channels.set(trackOf(uri), channel);
            reply(cseq, {
              Transport: `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}`,
              Session: `${session};timeout=60`,
            });
            break;
          }
          case 'RECORD':
            reply(cseq, { Session: session });
            break;
          case 'PLAY': {
            const p = path ? this.paths.get(path) : undefined;
            reply(cseq, { Session: session, Range: 'npt=0.000-' });
            this.plays++;
            player.playing = true;
            p?.players.add(player);
            break;
          }
          case 'TEARDOWN':
            reply(cseq, { Session: session });
            cleanup();
            socket.end();
            break;
          default:
            reply(cseq, { Session: session });
        }
      },
    });
  }

  /** One interleaved frame of the publisher to every player, on the player's channel for that track. */
  private relay(p: { channels: Map<number, number>; players: Set<Player> }, frame: Buffer): void {
    const ch = frame[1];
    const rtcp = ch % 2 === 1;
    const track = p.channels.get(rtcp ? ch - 1 : ch);
    if (track === undefined) return;
    for (const player of p.players) {
      const base = player.channels.get(track);
      if (base === undefined || player.socket.destroyed) continue;
      const out = Buffer.from(frame);
      out[1] = base + (rtcp ? 1 : 0);
      player.socket.write(out);
    }
  }
}

interface Player {
  socket: Socket;
  channels: Map<number, number>;
  playing: boolean;
}
