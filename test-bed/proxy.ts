import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

/**
 * An HTTP CONNECT proxy for tests, like a corporate egress proxy: it opens a tunnel for every CONNECT it receives and
 * records the host:port asked for. Every tunnel leads to one port on 127.0.0.1 (the fake Google's, or a test server's),
 * so the names the action asks for never need to resolve on this machine.
 */
export class TestProxy {
  url = '';
  readonly connects: string[] = [];
  readonly #server: Server;

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
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
