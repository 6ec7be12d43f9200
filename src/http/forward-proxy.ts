import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import { authorityOf, openEgress } from './egress.ts';
import { DEFAULT_MAX_CONNECTIONS, requestPath, type Forwarder } from './forwarder.ts';
import { gate, peerPolicy, type PeerPolicy } from './gate.ts';
import { withoutHopByHop } from './headers.ts';
import { HEALTH_PATH, type Health } from './health.ts';
import { createProxyServer, listenProxy } from './listen.ts';
import { answer, endWith } from './replies.ts';
import { isLoopbackOrigin, refuseRequest } from './request-policy.ts';
import type { RunningProxy } from './reverse-proxy.ts';
import { isWebSocketUpgrade, serveWithoutUpgrade } from './upgrade.ts';
import { messageOf } from '../errors.ts';
import type { LogLine } from '../logger.ts';

// A forward proxy for browsers (`--proxy-server`): for the IAP hosts named, and those only, it terminates TLS with a
// certificate from the run's own CA and forwards each request with the token (src/http/forwarder.ts); every other
// host is tunnelled byte for byte, untouched, with no token. Plain-http requests to a named host are refused: the
// token never travels in clear text. Redirects go back to the browser, which follows them itself. It serves only the
// user that started it: where the machine can tell a connection's user (src/http/gate.ts), others are closed
// unanswered; where it cannot, every request must carry the run's proxy credential (`Proxy-Authorization: Basic`).

export interface ForwardProxyOptions {
  /** Whether `host` (lower case, no port) is one the proxy adds the token for. */
  readonly intercepts: (host: string) => boolean;
  /** The forwarder to `https://host[:port]` (one per origin, made on first use by the caller). */
  readonly forwarderFor: (origin: string) => Forwarder;
  /** The certificate and key the proxy presents for `host`. */
  readonly certificateFor: (host: string) => { certificatePem: string; keyPem: string };
  readonly health: Health;
  readonly listen: { readonly host: string; readonly port: number };
  /** Who is served; by default the user that started the proxy, where the machine can tell (peerPolicy). */
  readonly peers?: PeerPolicy;
  /**
   * `user:password` every request must carry in Proxy-Authorization (Basic) where peers cannot be told apart; the
   * caller makes it per run and publishes it as a secret. Required then: without it such a proxy does not start.
   */
  readonly credential?: string;
  readonly maxConnections?: number;
  /** A tunnel to a host we only pass through is closed after this long without a byte either way (0: never). */
  readonly tunnelIdleTimeoutMs?: number;
  readonly log: LogLine;
  readonly count?: (event: 'request' | 'tunnel') => void;
}

/** Certificates and forwarders are kept per intercepted host; a page cannot make the agent keep more than this. */
const MAX_INTERCEPTED_HOSTS = 256;
export const DEFAULT_TUNNEL_IDLE_TIMEOUT_MS = 120_000;

/** What a client without the run's credential is told: that one is needed, and nothing of what is behind. */
const AUTHENTICATE = { 'proxy-authenticate': 'Basic realm="iap-token"' };

export async function startForwardProxy(options: ForwardProxyOptions): Promise<RunningProxy> {
  const peers = options.peers ?? peerPolicy(options.listen.host);
  if (peers.onlyUid === undefined && !options.credential)
    throw new Error('a forward proxy that cannot tell its users apart needs a credential');
  const authorized = credentialCheck(peers.onlyUid === undefined ? options.credential : undefined);
  const tunnelIdleMs = options.tunnelIdleTimeoutMs ?? DEFAULT_TUNNEL_IDLE_TIMEOUT_MS;
  // One TLS context per host, made again when the CA renews the host's certificate.
  const contexts = new Map<string, { pem: string; context: SecureContext }>();
  const contextFor = (host: string): SecureContext => {
    const { certificatePem, keyPem } = options.certificateFor(host);
    let kept = contexts.get(host);
    if (kept?.pem !== certificatePem) {
      kept = { pem: certificatePem, context: createSecureContext({ cert: certificatePem, key: keyPem }) };
      contexts.set(host, kept);
    }
    return kept.context;
  };
  /** Which origin each intercepted TLS connection is for: the CONNECT's, whatever Host its requests name. */
  const originOf = new WeakMap<Socket, string>();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  // Pages of the intercepted hosts, and of this machine, may use the apps; any other site's page may not.
  const trusted = (from: URL): boolean => (from.protocol === 'https:' && options.intercepts(from.hostname)) || isLoopbackOrigin(from);

  // The requests inside intercepted TLS connections: each goes to the connection's origin, with the token.
  const inner = createProxyServer((req, res) => {
    // An exchange under way has no idle limit of ours: a quiet stream lasts as long as the browser keeps it.
    req.socket.setTimeout(0);
    options.count?.('request');
    const origin = originOf.get(req.socket);
    const path = requestPath(req.url ?? '/');
    if (!origin || path === undefined) return answer(res, 400, 'a request names a path');
    const refusal = refuseRequest(req, trusted);
    if (refusal) return answer(res, refusal.status, refusal.reason);
    try {
      options.forwarderFor(origin).request(req, res, path);
    } catch (error) {
      answer(res, 502, messageOf(error));
    }
  });
  inner.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!isWebSocketUpgrade(req)) return serveWithoutUpgrade(inner, req, socket, head);
    const origin = originOf.get(socket);
    const path = requestPath(req.url ?? '/');
    if (!origin || path === undefined) return void socket.destroy();
    const refusal = refuseRequest(req, trusted);
    if (refusal) return endWith(socket, refusal.status, refusal.reason);
    try {
      options.forwarderFor(origin).upgrade(req, socket, head, path);
    } catch {
      socket.destroy();
    }
  });

  const server = createProxyServer((req, res) => {
    if (!authorized(req)) return answer(res, 407, "this proxy needs the run's proxy credential", AUTHENTICATE);
    if (req.url === HEALTH_PATH || req.url?.startsWith(`${HEALTH_PATH}?`)) {
      const { ok, body } = options.health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
      return;
    }
    if (req.method === 'TRACE') return answer(res, 405, 'TRACE is refused');
    plainHttp(req, res, options);
  });
  // A plain-http request offering h2c is answered as HTTP/1.1; no WebSocket goes through in clear text.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!isWebSocketUpgrade(req)) return serveWithoutUpgrade(server, req, socket, head);
    endWith(socket, 501, 'WebSockets go through this proxy over https (CONNECT) only');
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    client.on('error', () => client.destroy());
    if (!authorized(req)) return endWith(client, 407, "this proxy needs the run's proxy credential", AUTHENTICATE);
    const authority = parseAuthority(req.url ?? '');
    if (!authority) return endWith(client, 400, 'CONNECT names HOST:PORT');
    // Only the HTTPS port is intercepted; any other is tunnelled without a token, like any other host.
    if (authority.port === 443 && options.intercepts(authority.host)) {
      if (contexts.size >= MAX_INTERCEPTED_HOSTS && !contexts.has(authority.host)) {
        options.log(`Refused ${authority.host}: the forward proxy already intercepts ${MAX_INTERCEPTED_HOSTS} hosts in this run.`);
        return endWith(client, 503, `this proxy already intercepts ${MAX_INTERCEPTED_HOSTS} hosts`);
      }
      let secureContext: SecureContext;
      try {
        secureContext = contextFor(authority.host);
      } catch (error) {
        options.log(`No certificate for ${authority.host}: ${messageOf(error)}`);
        return endWith(client, 502, `no certificate for ${authority.host}`);
      }
      // The browser's TLS ends here, with this run's certificate for the host; its requests then get the token.
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      // Bytes the browser sent early (its ClientHello) belong to the TLS layer, under it.
      if (head.length) client.unshift(head);
      const tls = new TLSSocket(client, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
      track(tls);
      tls.on('error', () => tls.destroy());
      // Until its first request it carries no exchange of ours, like a tunnel: it gets the tunnels' idle limit. Between
      // requests, the server's keep-alive limit; during one (a quiet stream, a WebSocket), none.
      if (tunnelIdleMs > 0) tls.setTimeout(tunnelIdleMs);
      originOf.set(tls, `https://${authority.host}`);
      inner.emit('connection', tls);
      return;
    }
    options.count?.('tunnel');
    tunnel(client, authority, head, tunnelIdleMs, options.log);
  });

  const door = gate(server, {
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    onlyUid: peers.onlyUid,
    log: options.log,
  });
  const origin = await listenProxy(door.listener, options.listen, options.log);
  return {
    url: origin,
    port: Number(new URL(origin).port),
    peers: peers.onlyUid === undefined ? `${peers.says}: every request must carry the run's proxy credential` : peers.says,
    close: async () => {
      inner.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await door.close();
    },
  };
}

/** Whether a request carries the run's credential (always, where none is asked for). */
function credentialCheck(credential: string | undefined): (req: IncomingMessage) => boolean {
  if (credential === undefined) return () => true;
  const expected = Buffer.from(`Basic ${Buffer.from(credential).toString('base64')}`);
  return (req) => {
    // Proxy-Authorization only: it never goes further than this proxy (Authorization would travel on to the site).
    const given = Buffer.from(String(req.headers['proxy-authorization'] ?? '').trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

/** `host:port` of a CONNECT request, the host in lower case; IPv6 literals in brackets. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  // A host name of DNS characters only (no %, ?, #, \, @ that a URL parser would read otherwise), or an IPv6 literal.
  const match = /^(\[[0-9a-fA-F:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(authority);
  const port = Number(match?.[2]);
  if (!match || !(port > 0 && port < 65536)) return undefined;
  return { host: (match[1] ?? '').toLowerCase().replace(/^\[|\]$/g, ''), port };
}

/**
 * Any other host: bytes both ways, untouched, no token, leaving as every other connection does (src/http/egress.ts).
 * Not an exchange of ours: closed after `idleMs` without a byte either way, so that idle tunnels cannot pile up.
 */
function tunnel(client: Socket, { host, port }: { host: string; port: number }, head: Buffer, idleMs: number, log: LogLine): void {
  const authority = authorityOf(host, port);
  openEgress(host, port, {
    ...(idleMs > 0 ? { timeoutMs: idleMs } : {}),
    started: (socket) => client.once('close', () => socket.destroy()),
  }).then(
    ({ socket: upstream, early }) => {
      if (client.destroyed) return void upstream.destroy();
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (early.length) client.write(early);
      if (head.length) upstream.write(head);
      if (idleMs > 0) client.setTimeout(idleMs, () => client.destroy());
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.pipe(client).pipe(upstream);
    },
    (error: { code?: string; message: string }) => {
      log(`Tunnel to ${authority}: ${error.code === 'EGRESS_PROXY' ? error.message : (error.code ?? error.message)}`);
      endWith(client, 502, `could not reach ${authority}`);
    },
  );
}

/**
 * A plain-http request (absolute-form). To a named host it is refused: the token is sent only over TLS. Elsewhere it
 * is forwarded without a token, as any forward proxy does for a browser's other resources.
 */
function plainHttp(req: IncomingMessage, res: ServerResponse, options: ForwardProxyOptions): void {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return answer(res, 400, 'this is a forward proxy: requests name an absolute http:// URL, or use CONNECT');
  }
  if (url.protocol !== 'http:') return answer(res, 400, 'plain requests through this proxy are http:// only; https goes through CONNECT');
  if (options.intercepts(url.hostname.toLowerCase())) {
    return answer(res, 403, `${url.hostname} is reached through IAP over https only: the token never travels in clear text`);
  }
  // This hop's headers (the client's proxy credentials among them) stay here; Node sets the upstream's Host.
  const headers = withoutHopByHop(req.headers);
  // The body's framing as the client sent it (Node chunks what it writes under it; other codings pass as they are).
  const framing = req.headers['transfer-encoding'];
  if (framing !== undefined) headers['transfer-encoding'] = framing;
  const upstream = httpRequest({
    hostname: url.hostname,
    port: url.port || 80,
    method: req.method,
    path: `${url.pathname}${url.search}`,
    headers,
  });
  upstream.on('response', (up) => {
    const out = withoutHopByHop(up.headers);
    try {
      res.writeHead(up.statusCode ?? 502, out);
    } catch {
      // A header Node will not write (a byte it refuses): that answer fails, not the proxy.
      up.destroy();
      return answer(res, 502, `${url.host} answered with a header this proxy cannot pass on`);
    }
    up.pipe(res);
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (!res.headersSent) answer(res, 502, `could not reach ${url.host} (${error.code ?? error.message})`);
    else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
