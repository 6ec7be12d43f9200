import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import { ActionError } from '../errors.ts';
import { isLoopback } from '../urls.ts';
import { createForwarder, DEFAULT_MAX_CONNECTIONS, requestPath, type ForwarderOptions } from './forwarder.ts';
import { gate, peerPolicy, type PeerPolicy } from './gate.ts';
import { HEALTH_PATH, type Health } from './health.ts';
import { createProxyServer, listenProxy } from './listen.ts';
import { answer, endWith } from './replies.ts';
import { isLoopbackOrigin, refuseRequest, type Refusal } from './request-policy.ts';
import { isWebSocketUpgrade, serveWithoutUpgrade } from './upgrade.ts';

// An authenticating reverse proxy on loopback: every request goes to one target origin (src/http/forwarder.ts). It
// is never an open proxy: whatever the request names (an absolute URL, another Host), it goes to the target alone;
// CONNECT is refused. `GET /.iap-token/healthz` answers readiness without touching the target. Only the user that
// started it is served where the machine can tell (src/http/gate.ts).

export interface ReverseProxyOptions extends Omit<ForwarderOptions, 'origin' | 'count'> {
  /** `GET /.iap-token/healthz`: readiness, without touching the target. */
  readonly health: Health;
  readonly listen: { readonly host: string; readonly port: number };
  /** Who is served; by default the user that started the proxy, where the machine can tell (peerPolicy). */
  readonly peers?: PeerPolicy;
  /** Counts for the summary. */
  readonly count?: (event: 'request' | 'upstream-error' | 'websocket') => void;
}

export interface RunningProxy {
  readonly url: string;
  readonly port: number;
  /** Who may use it, in a line for the log. */
  readonly peers: string;
  close(): Promise<void>;
}

export async function startReverseProxy(options: ReverseProxyOptions): Promise<RunningProxy> {
  const { target } = options;
  await checkResolves(target);
  let origin = '';
  const forwarder = createForwarder({ ...options, origin: () => origin });
  const peers = options.peers ?? peerPolicy(options.listen.host);

  const server = createProxyServer((req, res) => {
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
    endWith(socket, 405, 'CONNECT is refused; this proxy forwards to one origin only');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!isWebSocketUpgrade(req)) return serveWithoutUpgrade(server, req, socket, head);
    const path = requestPath(req.url ?? '/');
    const refusal = refuse(req, origin, options.listen.host);
    if (path === undefined || refusal) endWith(socket, refusal?.status ?? 400, refusal?.reason ?? 'a request names a path');
    else forwarder.upgrade(req, socket, head, path);
  });

  const door = gate(server, {
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    onlyUid: peers.onlyUid,
    log: options.log,
  });
  try {
    origin = await listenProxy(door.listener, options.listen, options.log);
  } catch (error) {
    await forwarder.close();
    throw error;
  }
  return {
    url: origin,
    port: Number(new URL(origin).port),
    peers: peers.says,
    close: async () => {
      await Promise.all([door.close(), forwarder.close()]);
    },
  };
}

/**
 * Requests this proxy will not serve, though they reached it: those src/http/request-policy.ts refuses for every
 * proxy (the trusted origins being this machine's pages), and, on loopback, a Host that does not name the proxy: a
 * page's own name resolving here (DNS rebinding) would otherwise reach the app with the token.
 */
function refuse(req: IncomingMessage, origin: string, listenHost: string): Refusal | undefined {
  if (isLoopback(listenHost)) {
    const port = new URL(origin).port;
    const host = String(req.headers.host ?? '').toLowerCase();
    if (![`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${listenHost}:${port}`].includes(host)) {
      return {
        status: 421,
        reason: `this proxy answers to http://127.0.0.1:${port} (or localhost) only, not to ${host.slice(0, 100) || 'no Host'}`,
      };
    }
  }
  // Listening elsewhere was asked for (with a warning): there, any origin may be the one the user serves pages from.
  return refuseRequest(req, (from) => !isLoopback(listenHost) || isLoopbackOrigin(from));
}

/** A target that does not resolve is an error before anything listens (behind a proxy, the proxy resolves it). */
export async function checkResolves(target: URL): Promise<void> {
  if (getProxyUrl(target) || isLoopback(target.hostname)) return;
  await lookup(target.hostname).catch(() => {
    throw new ActionError(`The proxy's target name ${target.hostname} does not resolve (DNS).`);
  });
}
