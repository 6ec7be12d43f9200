import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isIP } from 'node:net';
import { openEgress } from './egress.ts';
import type { TokenHeader } from '../config.ts';
import { HOP_BY_HOP, rawHead, upstreamHeaders } from './headers.ts';
import { endWith, upstreamReason } from './replies.ts';
import { messageOf } from '../errors.ts';
import type { LogLine } from '../logger.ts';

// A WebSocket through a proxy: the upgrade request goes to the target with the token, over a connection that leaves
// the machine as every other does (through https_proxy unless no_proxy exempts the target, src/http/egress.ts), and,
// once the target switches protocols, the bytes go both ways untouched. The target has `responseTimeoutMs` to answer
// the upgrade; an open WebSocket has no idle limit (its two ends keep it alive or close it).

export interface WebSocketOptions {
  readonly target: URL;
  readonly header: TokenHeader;
  readonly token: () => Promise<string>;
  readonly responseTimeoutMs: number;
  readonly log: LogLine;
  readonly count?: (event: 'upstream-error' | 'websocket') => void;
  /** Told of the upstream socket, so that closing the proxy ends it too. */
  readonly track: (socket: Socket) => void;
}

export function forwardWebSocket(options: WebSocketOptions, req: IncomingMessage, client: Socket, head: Buffer, path: string): void {
  const { target } = options;
  const limitS = options.responseTimeoutMs / 1000;
  client.on('error', () => client.destroy());
  // Until the target answers, the client waits for us; after, its silence is its own business.
  client.setTimeout(0);
  const fail = (error: { code?: string | undefined; message: string }): void => {
    options.count?.('upstream-error');
    const reason = upstreamReason(error, target, limitS);
    if (error.code === 'UPSTREAM_TIMEOUT') options.log(`WebSocket ${path.split('?')[0] ?? ''}: ${reason}.`);
    endWith(client, error.code === 'UPSTREAM_TIMEOUT' ? 504 : 502, reason);
  };
  void (async () => {
    let token: string;
    try {
      token = await options.token();
    } catch (error) {
      return endWith(client, 503, `no token to send: ${messageOf(error)}`);
    }
    const secure = target.protocol === 'https:';
    const port = Number(target.port || (secure ? 443 : 80));
    // Every socket toward the target ends with the client, from the moment it exists; connecting and the TLS
    // handshake together get the response timeout.
    const ends = (socket: Socket): void => {
      options.track(socket);
      client.once('close', () => socket.destroy());
    };
    const limit = options.responseTimeoutMs;
    let socket: Socket;
    try {
      const egress = await openEgress(target.hostname.replace(/^\[|\]$/g, ''), port, {
        scheme: secure ? 'https' : 'http',
        ...(limit > 0 ? { timeoutMs: limit } : {}),
        started: ends,
      });
      if (egress.early.length && secure) {
        egress.socket.destroy();
        throw Object.assign(new Error(`the egress proxy ${egress.via ?? ''} sent bytes before the TLS handshake`), {
          code: 'EGRESS_PROXY',
        });
      }
      if (egress.early.length) egress.socket.unshift(egress.early);
      socket = secure ? await secureOver(egress.socket, target.hostname, limit) : egress.socket;
      if (secure) ends(socket);
    } catch (error) {
      return fail(error as NodeJS.ErrnoException);
    }
    if (client.destroyed) return void socket.destroy();
    const upstream = httpRequest({
      method: req.method,
      path,
      headers: upstreamHeaders(req.headers, target, options.header, token, true),
      createConnection: () => socket,
    });
    // The egress connection comes paused (nothing it read is lost): it flows once the request reads from it.
    upstream.once('socket', () => socket.resume());
    if (options.responseTimeoutMs > 0) {
      upstream.setTimeout(options.responseTimeoutMs, () =>
        upstream.destroy(Object.assign(new Error('no answer to the upgrade'), { code: 'UPSTREAM_TIMEOUT' })),
      );
    }
    upstream.on('upgrade', (up, upSocket, upHead) => {
      upSocket.setTimeout(0);
      client.write(rawHead(101, up.statusMessage ?? 'Switching Protocols', up.rawHeaders));
      if (upHead.length) client.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.on('error', () => client.destroy());
      upSocket.on('close', () => client.destroy());
      upSocket.pipe(client).pipe(upSocket);
    });
    upstream.on('response', (up) => {
      // No upgrade (IAP refused, or the app): the answer goes back, its body ended by the connection's end (Node has
      // already undone its chunked framing, so that header and the other hop-by-hop ones stay behind).
      const kept: string[] = [];
      for (let i = 0; i + 1 < up.rawHeaders.length; i += 2) {
        const name = up.rawHeaders[i] ?? '';
        if (!HOP_BY_HOP.has(name.toLowerCase())) kept.push(name, up.rawHeaders[i + 1] ?? '');
      }
      client.write(rawHead(up.statusCode ?? 502, up.statusMessage ?? '', [...kept, 'connection', 'close']));
      up.pipe(client);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!client.destroyed) fail(error);
    });
    upstream.end();
  })();
}

/** TLS over an open connection, verified for `hostname` against the machine's CAs (and NODE_EXTRA_CA_CERTS). */
function secureOver(socket: Socket, hostname: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const name = hostname.replace(/^\[|\]$/g, '');
    const tls = tlsConnect({ socket, ...(isIP(name) ? {} : { servername: name }), host: name, ALPNProtocols: ['http/1.1'] }, () => {
      tls.removeListener('error', reject);
      tls.setTimeout(0);
      resolve(tls);
    });
    tls.once('error', reject);
    if (timeoutMs > 0) {
      tls.setTimeout(timeoutMs, () => {
        tls.destroy();
        reject(Object.assign(new Error('no TLS handshake in time'), { code: 'ETIMEDOUT' }));
      });
    }
  });
}
