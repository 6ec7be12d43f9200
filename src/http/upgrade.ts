import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// Which Upgrade requests are WebSockets, and what becomes of the others. Node's server (before 24.9's
// shouldUpgradeCallback, and the CLI runs on 22.3 and later) hands every request that offers an upgrade to the
// 'upgrade' listeners, body unread. An offer we do not take (`Upgrade: h2c`, which Java's HttpClient, curl --http2 and
// git send on every http:// URL) is declined as HTTP lets a server decline it: the request is served as the HTTP/1.1
// request it also is. Its head is written again without the offer, in front of the bytes that followed it, and the
// connection is handed back to the server, which then reads it as any other request, body and all.

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '')
    .split(',')
    .some((protocol) => protocol.trim().toLowerCase() === 'websocket');
}

/** Headers that belong to the offer alone. */
const OFFER = new Set(['upgrade', 'http2-settings']);

/** The last response begun on each connection: an offer pipelined behind it waits until it is sent. */
const latest = new WeakMap<Socket, ServerResponse>();

export function noteResponse(req: IncomingMessage, res: ServerResponse): void {
  latest.set(req.socket, res);
}

export function serveWithoutUpgrade(server: Server, req: IncomingMessage, socket: Socket, head: Buffer): void {
  // The server would start afresh on this connection while an earlier response still owns it (pipelining): the
  // offer's request is handed back only once that response is sent, so the answers keep their order.
  const pending = latest.get(socket);
  if (pending && !pending.writableFinished && !pending.destroyed) {
    let done = false;
    const go = (): void => {
      if (done) return;
      done = true;
      serveWithoutUpgrade(server, req, socket, head);
    };
    pending.once('finish', go);
    pending.once('close', go);
    return;
  }
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    const lower = name.toLowerCase();
    if (OFFER.has(lower)) continue;
    if (lower === 'connection') {
      const rest = value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token && !OFFER.has(token.toLowerCase()));
      if (rest.length) lines.push(`${name}: ${rest.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  // Node reads header bytes as latin1: written back the same way, every byte is what the client sent.
  socket.unshift(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head]));
  server.emit('connection', socket);
}
