import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';

export type { IncomingMessage, HttpServer, ServerResponse };
import type { AddressInfo, Server, Socket } from 'node:net';
import { ActionError } from '../errors.ts';
import type { LogLine } from '../logger.ts';
import { rawAnswer } from './replies.ts';
import { noteResponse } from './upgrade.ts';

/**
 * The proxies' HTTP servers: connections kept alive as long as an upstream's; no limit on a request's whole length (a
 * slow upload of any size streams through), but its headers within a minute; request heads up to 64 KiB, what Google's
 * front ends take (Node's own default, 16 KiB, refuses the large cookies and tokens some apps carry).
 */
export const MAX_HEADER_BYTES = 64 * 1024;
export const SERVER_OPTIONS = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000, maxHeaderSize: MAX_HEADER_BYTES };

/**
 * A proxy's HTTP server with those options, whose refusals of a malformed request say why: a head over the limit gets
 * 431 with the limit named, rather than Node's bare status.
 */
export function createProxyServer(handler: (req: IncomingMessage, res: ServerResponse) => void): HttpServer {
  const server = createServer(SERVER_OPTIONS, (req, res) => {
    noteResponse(req, res);
    handler(req, res);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return void socket.destroy();
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      socket.end(rawAnswer(431, `the request's headers are over ${MAX_HEADER_BYTES / 1024} KiB, more than Google's front ends accept`));
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'ERR_HTTP_HEADERS_TIMEOUT') {
      socket.end(rawAnswer(408, `the request's headers did not arrive within ${SERVER_OPTIONS.headersTimeout / 1000} s`));
    } else socket.end(rawAnswer(400, `the request is not HTTP/1.1 this proxy can read (${error.code ?? 'malformed'})`));
  });
  return server;
}

/**
 * Listens on `host:port` (port 0: any free one) and resolves with the server's origin; rejects with Node's error
 * (EADDRINUSE, …), which `cannotListen` explains in a proxy's words. The one way a server of ours starts listening.
 */
export function listen(server: Server, where: { readonly host: string; readonly port: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      resolve(`http://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}`);
    });
  });
}

/**
 * A proxy's listener on `where`: a busy port or a missing address explained; and, once it listens, a failure to
 * accept (EMFILE: out of file descriptors) logged, not thrown: the proxy serves on with the connections it has.
 */
export async function listenProxy(server: Server, where: { readonly host: string; readonly port: number }, log: LogLine): Promise<string> {
  const origin = await listen(server, where).catch((error: NodeJS.ErrnoException) => {
    throw cannotListen(error, where);
  });
  server.on('error', (error: NodeJS.ErrnoException) => log(`The proxy could not accept a connection (${error.code ?? error.message}).`));
  return origin;
}

/** Why a proxy could not listen: a busy port or a missing address explained, anything else as it came. */
function cannotListen(error: NodeJS.ErrnoException, where: { readonly host: string; readonly port: number }): Error {
  const named = `${where.host}:${where.port}`;
  if (error.code === 'EADDRINUSE') {
    return new ActionError(`The proxy cannot listen on ${named}: the port is in use. Choose another port, or 0 for any free one.`);
  }
  if (error.code === 'EADDRNOTAVAIL') return new ActionError(`The proxy cannot listen on ${named}: this machine has no such address.`);
  return error;
}

/**
 * A plain HTTP server on 127.0.0.1:`port` (0: any free port), for the CLI's sign-in redirect; rejects with Node's
 * error (EADDRINUSE, …) when it cannot.
 */
export async function listenOnLoopback(port: number): Promise<{ server: HttpServer; port: number }> {
  const server = createServer();
  const origin = await listen(server, { host: '127.0.0.1', port });
  return { server, port: Number(new URL(origin).port) };
}
