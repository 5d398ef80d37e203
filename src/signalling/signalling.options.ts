import type { IncomingHttpHeaders } from 'node:http';
import type { ServerOptions } from 'socket.io';
import type { IceServerConfig } from '../protocol';
import type { ClientLimitOptions } from './client-limits';

/** What the authorization hook sees of a connecting socket's handshake. */
export interface StreamingHandshake {
  headers: IncomingHttpHeaders;
  /** The client's `auth` payload (socket.io-client `io(url, { auth: { token } })`). */
  auth: Record<string, unknown>;
  query: Record<string, unknown>;
  /** The remote address of the connection. */
  address: string;
  secure: boolean;
  url: string;
}

/** `true` lets the socket in; `{ allow: false, reason }` refuses it (the reason reaches the client). */
export type AuthorizeResult = true | { allow: false; reason: string };

/** Decides whether a socket may connect. A hook that throws refuses the socket. */
export type AuthorizeHook = (handshake: StreamingHandshake) => AuthorizeResult | Promise<AuthorizeResult>;

/** Where the gateway is attached: see the README ("Embed it in your Nest app"). */
export interface StreamingGatewayOptions {
  /** socket.io namespace (default `/`). Several gateways share one server by namespace. */
  namespace?: string;
  /** socket.io path (default `/socket.io`). A different path makes a separate socket.io server. */
  path?: string;
  /**
   * socket.io CORS options (default: any origin). Ignored when the server is shared with
   * another gateway. When `cors.origin` names origins (a string, RegExp or list of them, or a
   * function), the `Origin` of every socket.io handshake is checked against it too: a page
   * from another origin cannot open a socket (cross-site websocket hijacking). Requests
   * without an `Origin` header (not from a browser) are let through.
   */
  cors?: ServerOptions['cors'];
}

/** How the signalling gateway is set up. Provided by the module; every field has a default. */
export class SignallingOptions {
  gateway: StreamingGatewayOptions = {};
  /** Runs once per connecting socket, before any event is handled. */
  authorize?: AuthorizeHook;
  /** ICE servers handed to clients (`config:get`). */
  clientIceServers: IceServerConfig[] = [];
  /** Per-address and per-socket limits (defaults: DEFAULT_CLIENT_LIMITS). */
  limits: ClientLimitOptions = {};

  static from(partial: Partial<SignallingOptions> = {}): SignallingOptions {
    return Object.assign(new SignallingOptions(), partial);
  }
}
