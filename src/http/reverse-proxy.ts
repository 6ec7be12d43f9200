import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import { ActionError } from '../errors.ts';
import { isLoopback } from '../urls.ts';
import { answer, createForwarder, requestPath, type ForwarderOptions } from './forwarder.ts';
import { HEALTH_PATH } from './health.ts';
import { listen } from './listen.ts';

/**
 * An authenticating reverse proxy on loopback: every request goes to one target origin (src/http/forwarder.ts). It
 * is never an open proxy: whatever the request names (an absolute URL, another Host), it goes to the target alone;
 * CONNECT is refused. `GET /.iap-token/healthz` answers readiness without touching the target.
 */

export interface ReverseProxyOptions extends Omit<ForwarderOptions, 'origin' | 'count'> {
  /** `GET /.iap-token/healthz`: readiness, without touching the target. */
  readonly health: () => { ok: boolean; body: Record<string, unknown> };
  readonly listen: { readonly host: string; readonly port: number };
  /** Counts for the summary. */
  readonly count?: (event: 'request' | 'upstream-error' | 'websocket') => void;
}

export interface RunningProxy {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export { HEALTH_PATH } from './health.ts';

export async function startReverseProxy(options: ReverseProxyOptions): Promise<RunningProxy> {
  const { target } = options;
  await checkResolves(target);
  let origin = '';
  const forwarder = createForwarder({ ...options, origin: () => origin });

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    options.count?.('request');
    const path = requestPath(req.url ?? '/');
    if (path === undefined) {
      answer(res, 400, 'a request names a path (or an absolute URL, of which only the path is used)');
      return;
    }
    if (path === HEALTH_PATH || path.startsWith(`${HEALTH_PATH}?`)) {
      const { ok, body } = options.health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
      return;
    }
    forwarder.request(req, res, path);
  });

  // A forward proxy's CONNECT is not ours to serve: this proxy reaches one origin only.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\niap-token proxy: CONNECT is refused; this proxy forwards to one origin only.\n',
    );
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = requestPath(req.url ?? '/');
    if (path === undefined) socket.destroy();
    else forwarder.upgrade(req, socket, head, path);
  });

  try {
    origin = await listen(server, options.listen);
  } catch (error) {
    await forwarder.close();
    throw error;
  }
  return {
    url: origin,
    port: Number(new URL(origin).port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        void forwarder.close();
      }),
  };
}

/** A target that does not resolve is an error before anything listens (behind a proxy, the proxy resolves it). */
export async function checkResolves(target: URL): Promise<void> {
  if (getProxyUrl(target) || isLoopback(target.hostname)) return;
  await lookup(target.hostname).catch(() => {
    throw new ActionError(`The proxy's target name ${target.hostname} does not resolve (DNS).`);
  });
}
