import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * An HTTP CONNECT proxy for tests, like a corporate egress proxy: it opens a tunnel for every CONNECT it receives and
 * records the host:port asked for. Every tunnel leads to one port on 127.0.0.1 (the fake Google's, or a test server's),
 * so the names the action asks for never need to resolve on this machine.
 */
export class TestProxy {
  url = '';
  readonly connects: string[] = [];
  readonly #server: Server;
  /** The tunnels' sockets: once CONNECT is answered they are no longer the server's, and stop() ends them itself. */
  readonly #tunnels = new Set<Duplex>();

  constructor(targetPort: () => number) {
    this.#server = createServer((_req, res) => {
      res.writeHead(405).end('this proxy only tunnels (CONNECT)');
    });
    this.#server.on('connect', (req, socket, head) => {
      this.connects.push(req.url ?? '');
      const upstream = connect(targetPort(), '127.0.0.1', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      for (const end of [socket, upstream]) {
        this.#tunnels.add(end);
        end.on('close', () => this.#tunnels.delete(end));
      }
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    for (const socket of this.#tunnels) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
