import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP layer's server side: a listener on 127.0.0.1 only, for the CLI's sign-in redirect (and the agent's proxy
 * to come). Nothing of ours listens on another interface.
 */
export type { IncomingMessage, Server, ServerResponse };

/** Listens on 127.0.0.1:`port` (0: any free port); rejects with Node's error (EADDRINUSE, …) when it cannot. */
export function listenOnLoopback(port: number): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
