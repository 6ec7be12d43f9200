import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import { ActionError } from '../errors.ts';
import { isLoopback } from '../urls.ts';
import { answer, createForwarder, requestPath, type ForwarderOptions } from './forwarder.ts';
import { HEALTH_PATH } from './health.ts';
import { listen, SERVER_OPTIONS } from './listen.ts';

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

export async function startReverseProxy(options: ReverseProxyOptions): Promise<RunningProxy> {
  const { target } = options;
  await checkResolves(target);
  let origin = '';
  const forwarder = createForwarder({ ...options, origin: () => origin });

  const server = createServer(SERVER_OPTIONS, (req, res) => {
    const path = requestPath(req.url ?? '/');
    if (path === undefined) {
      answer(res, 400, 'a request names a path (or an absolute URL, of which only the path is used)');
      return;
    }
    const refusal = refuse(req, origin, options.listen.host);
    if (refusal) {
      answer(res, refusal.status, refusal.reason);
      return;
    }
    if (path === HEALTH_PATH || path.startsWith(`${HEALTH_PATH}?`)) {
      const { ok, body } = options.health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
      return;
    }
    options.count?.('request');
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
    const refusal = refuse(req, origin, options.listen.host);
    if (path === undefined || refusal)
      socket.end(`HTTP/1.1 ${refusal?.status ?? 400} Refused\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
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

/**
 * Requests this proxy will not serve, though they reached it. A page in a browser on this machine can reach
 * 127.0.0.1 too: by DNS rebinding (its own name, resolving here: the Host is then that name) or by a cross-site form
 * or WebSocket (the Origin is then another site's). Either would be sent on with the token. So on loopback the Host
 * must name the proxy itself, and a request that can change something (not GET, HEAD or OPTIONS) or open a WebSocket
 * may come from no other site. TRACE, which would echo the token back, is refused.
 */
function refuse(req: IncomingMessage, origin: string, listenHost: string): { status: number; reason: string } | undefined {
  if (req.method === 'TRACE') return { status: 405, reason: 'TRACE is refused: it would echo the token back' };
  if (!isLoopback(listenHost)) return undefined; // Listening elsewhere was asked for, with a warning.
  const port = new URL(origin).port;
  const host = String(req.headers.host ?? '').toLowerCase();
  if (![`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${listenHost}:${port}`].includes(host)) {
    return {
      status: 421,
      reason: `this proxy answers to http://127.0.0.1:${port} (or localhost) only, not to ${host.slice(0, 100) || 'no Host'}`,
    };
  }
  const from = req.headers.origin;
  const safe = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
  if (from !== undefined && (!safe || req.headers.upgrade) && !isLoopbackOrigin(from)) {
    return { status: 403, reason: 'a request from another site is not sent on with the token' };
  }
  return undefined;
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    return isLoopback(new URL(origin).hostname);
  } catch {
    return false;
  }
}

/** A target that does not resolve is an error before anything listens (behind a proxy, the proxy resolves it). */
export async function checkResolves(target: URL): Promise<void> {
  if (getProxyUrl(target) || isLoopback(target.hostname)) return;
  await lookup(target.hostname).catch(() => {
    throw new ActionError(`The proxy's target name ${target.hostname} does not resolve (DNS).`);
  });
}
