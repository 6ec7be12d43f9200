import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import { answer, requestPath, type Forwarder } from './forwarder.ts';
import { HEALTH_PATH } from './health.ts';
import { listen, SERVER_OPTIONS } from './listen.ts';
import type { RunningProxy } from './reverse-proxy.ts';

/**
 * A forward proxy for browsers (`--proxy-server`): for the IAP hosts named, and those only, it terminates TLS with a
 * certificate from the run's own CA and forwards each request with the token (src/http/forwarder.ts); every other
 * host is tunnelled byte for byte, untouched, with no token. Plain-http requests to a named host are refused: the
 * token never travels in clear text. Redirects go back to the browser, which follows them itself.
 */

export interface ForwardProxyOptions {
  /** Whether `host` (lower case, no port) is one the proxy adds the token for. */
  readonly intercepts: (host: string) => boolean;
  /** The forwarder to `https://host[:port]` (one per origin, made on first use by the caller). */
  readonly forwarderFor: (origin: string) => Forwarder;
  /** The certificate and key the proxy presents for `host`. */
  readonly certificateFor: (host: string) => { certificatePem: string; keyPem: string };
  readonly health: () => { ok: boolean; body: Record<string, unknown> };
  readonly listen: { readonly host: string; readonly port: number };
  readonly log: (line: string) => void;
  readonly count?: (event: 'request' | 'tunnel') => void;
}

/** Certificates and forwarders are kept per intercepted host; a page cannot make the agent keep more than this. */
const MAX_INTERCEPTED_HOSTS = 256;

/** The HTTP hop-by-hop headers a plain-http forward drops (RFC 9110), the client's proxy credentials included. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

export async function startForwardProxy(options: ForwardProxyOptions): Promise<RunningProxy> {
  const contexts = new Map<string, SecureContext>();
  const contextFor = (host: string): SecureContext => {
    let context = contexts.get(host);
    if (!context) {
      const { certificatePem, keyPem } = options.certificateFor(host);
      context = createSecureContext({ cert: certificatePem, key: keyPem });
      contexts.set(host, context);
    }
    return context;
  };
  /** Which origin each intercepted TLS connection is for: the CONNECT's, whatever Host its requests name. */
  const originOf = new WeakMap<Socket, string>();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  // The requests inside intercepted TLS connections: each goes to the connection's origin, with the token.
  const inner = createServer(SERVER_OPTIONS, (req, res) => {
    options.count?.('request');
    const origin = originOf.get(req.socket);
    const path = requestPath(req.url ?? '/');
    if (!origin || path === undefined) return answer(res, 400, 'a request names a path');
    try {
      options.forwarderFor(origin).request(req, res, path);
    } catch (error) {
      answer(res, 502, error instanceof Error ? error.message : String(error));
    }
  });
  inner.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const origin = originOf.get(socket);
    const path = requestPath(req.url ?? '/');
    if (!origin || path === undefined) return void socket.destroy();
    try {
      options.forwarderFor(origin).upgrade(req, socket, head, path);
    } catch {
      socket.destroy();
    }
  });

  const server = createServer(SERVER_OPTIONS, (req, res) => {
    if (req.url === HEALTH_PATH || req.url?.startsWith(`${HEALTH_PATH}?`)) {
      const { ok, body } = options.health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
      return;
    }
    plainHttp(req, res, options);
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    client.on('error', () => client.destroy());
    const authority = parseAuthority(req.url ?? '');
    if (!authority) {
      client.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      return;
    }
    // Only the HTTPS port is intercepted; any other is tunnelled without a token, like any other host.
    if (authority.port === 443 && options.intercepts(authority.host)) {
      if (contexts.size >= MAX_INTERCEPTED_HOSTS && !contexts.has(authority.host)) {
        client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        options.log(`Refused ${authority.host}: the forward proxy already intercepts ${MAX_INTERCEPTED_HOSTS} hosts in this run.`);
        return;
      }
      let secureContext: SecureContext;
      try {
        secureContext = contextFor(authority.host);
      } catch (error) {
        options.log(`No certificate for ${authority.host}: ${error instanceof Error ? error.message : String(error)}`);
        client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      // The browser's TLS ends here, with this run's certificate for the host; its requests then get the token.
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      // Bytes the browser sent early (its ClientHello) belong to the TLS layer, under it.
      if (head.length) client.unshift(head);
      const tls = new TLSSocket(client, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
      track(tls);
      tls.on('error', () => tls.destroy());
      tls.setTimeout(120_000, () => tls.destroy());
      originOf.set(tls, `https://${authority.host}`);
      inner.emit('connection', tls);
      return;
    }
    options.count?.('tunnel');
    tunnel(client, authority, head, options.log);
  });

  const origin = await listen(server, options.listen);
  return {
    url: origin,
    port: Number(new URL(origin).port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        inner.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
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
 * Any other host: bytes both ways, untouched, no token. Through the https_proxy the runner sets, when it names one
 * for that host (a CONNECT to it first); else straight.
 */
function tunnel(client: Socket, { host, port }: { host: string; port: number }, head: Buffer, log: (line: string) => void): void {
  const via = getProxyUrl(new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`));
  const upstream = via ? connect(Number(via.port || 80), via.hostname) : connect(port, host);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const fail = (reason: string): void => {
    log(`Tunnel to ${authority}: ${reason}`);
    if (!client.destroyed) client.end(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    upstream.destroy();
  };
  upstream.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
  client.on('close', () => upstream.destroy());
  const open = (): void => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client).pipe(upstream);
  };
  if (!via) {
    upstream.once('connect', open);
    return;
  }
  // The upstream proxy's own CONNECT, with its credentials when its URL carries them.
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const credentials = via.username
    ? `proxy-authorization: Basic ${Buffer.from(`${decode(via.username)}:${decode(via.password)}`).toString('base64')}\r\n`
    : '';
  upstream.once('connect', () => upstream.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n${credentials}\r\n`));
  let answered = '';
  const onData = (chunk: Buffer): void => {
    answered += chunk.toString('latin1');
    const end = answered.indexOf('\r\n\r\n');
    if (end === -1) {
      if (answered.length > 16_384) fail('the upstream proxy sent an oversized answer');
      return;
    }
    upstream.off('data', onData);
    if (!/^HTTP\/1\.[01] 200/.test(answered)) return fail(`the upstream proxy refused: ${answered.split('\r\n')[0] ?? ''}`);
    const rest = Buffer.from(answered.slice(end + 4), 'latin1');
    if (rest.length) client.write(rest);
    open();
  };
  upstream.on('data', onData);
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
  const headers = { ...req.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  const upstream = httpRequest({
    hostname: url.hostname,
    port: url.port || 80,
    method: req.method,
    path: `${url.pathname}${url.search}`,
    headers,
  });
  upstream.on('response', (up) => {
    const out = { ...up.headers };
    for (const name of HOP_BY_HOP) delete out[name];
    res.writeHead(up.statusCode ?? 502, out);
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
