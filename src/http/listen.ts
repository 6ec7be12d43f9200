import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ActionError } from '../errors.ts';

/**
 * The proxies' servers: connections kept alive as long as an upstream's; no limit on a request's whole length (a
 * slow upload of any size streams through), but its headers within a minute.
 */
export const SERVER_OPTIONS = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 };

/** Listens on `host:port` (port 0: any free one) and resolves with the server's origin; a busy port is explained. */
export function listen(server: Server, where: { readonly host: string; readonly port: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const named = `${where.host}:${where.port}`;
      reject(
        error.code === 'EADDRINUSE'
          ? new ActionError(`The proxy cannot listen on ${named}: the port is in use. Choose another port, or 0 for any free one.`)
          : error.code === 'EADDRNOTAVAIL'
            ? new ActionError(`The proxy cannot listen on ${named}: this machine has no such address.`)
            : error,
      );
    });
    server.listen(where.port, where.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}`);
    });
  });
}
