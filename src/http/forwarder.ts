import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import type { Dispatcher } from 'undici';
import { Pool, ProxyAgent } from './undici.ts';
import { ActionError } from '../errors.ts';

/**
 * Forwarding to one origin with a token, shared by the reverse proxy (one origin) and the forward proxy (one per
 * intercepted host): the token in the header IAP reads, bodies streamed both ways (none held whole), kept-alive
 * upstream connections, redirects never followed, IAP's refusals handed to the caller, WebSockets passed through.
 */

export interface ForwarderOptions {
  /** The origin every request goes to. */
  readonly target: URL;
  /** `authorization`, or `proxy-authorization` for apps that read their own Authorization (passed through). */
  readonly header: 'authorization' | 'proxy-authorization';
  /** The token to send now; rejects with a one-line reason when none can be had (the client then gets 503). */
  readonly token: () => Promise<string>;
  /**
   * IAP answered `status` itself (it refused the token). Returns what the client is told under IAP's own body, and
   * whether a fresh token is worth one more try (an expired token); `retry` is honoured for replayable requests only.
   */
  readonly onIapRefusal: (
    status: number,
    body: string,
    sentToken: string,
    final: boolean,
  ) => Promise<{ explanation: string; retry: boolean }>;
  /** An upstream connection silent for this long is given up (504). */
  readonly idleTimeoutMs?: number;
  readonly log: (line: string) => void;
  /** Counts for the summary. */
  readonly count?: (event: 'upstream-error' | 'websocket') => void;
  /** The proxy's own origin, to which a `Location` on the target is rewritten; none for a forward proxy. */
  readonly origin?: () => string;
}

export interface Forwarder {
  /** Forwards one request (its path and query) to the target. */
  request(req: IncomingMessage, res: ServerResponse, path: string): void;
  /** Forwards an Upgrade request (a WebSocket) and then the bytes both ways. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, path: string): void;
  close(): Promise<void>;
}

/** Headers that describe one connection, not the message: never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  // Node's server has answered the client's Expect: 100-continue itself; the upstream client may not send it on.
  'expect',
]);
/** Methods whose repetition has no further effect; only these are retried, and only without a body. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** IAP's refusals are a line or a small page; more is not read before answering the client. */
const REFUSAL_BYTES = 16 * 1024;

export function createForwarder(options: ForwarderOptions): Forwarder {
  const { target } = options;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  // undici's pool for the upstream: kept-alive connections, and measured 1.6 times the throughput of node:http's
  // client as a proxy on this machine (npm run bench). Through https_proxy, its ProxyAgent tunnels.
  const proxyUrl = getProxyUrl(target);
  if (proxyUrl && options.header === 'proxy-authorization') {
    // undici's tunnel through https_proxy claims Proxy-Authorization for the egress proxy itself.
    throw new ActionError(
      `The token cannot travel in Proxy-Authorization to ${target.host} through the https_proxy this machine uses: use the authorization header, or exempt the host with no_proxy.`,
    );
  }
  const timeouts = { headersTimeout: idleTimeoutMs, bodyTimeout: idleTimeoutMs };
  const dispatcher: Dispatcher = proxyUrl
    ? new ProxyAgent({ uri: proxyUrl.toString(), ...timeouts })
    : new Pool(target.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000, ...timeouts });
  const origin = () => options.origin?.() ?? '';
  // Upgraded connections leave the server's keeping: close() ends them itself.
  const upgraded = new Set<Socket>();

  const upstreamHeaders = (incoming: IncomingHttpHeaders, token: string, upgrade: boolean): OutgoingHttpHeaders => {
    const headers: OutgoingHttpHeaders = {};
    // Headers the client names in Connection are for this hop only, like the standard ones (RFC 9110, 7.6.1).
    const named = String(incoming['connection'] ?? '')
      .toLowerCase()
      .split(',')
      .map((name) => name.trim());
    for (const [name, value] of Object.entries(incoming)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && !named.includes(name)) headers[name] = value;
    }
    headers['host'] = target.host;
    if (options.header === 'authorization') headers['authorization'] = `Bearer ${token}`;
    else headers['proxy-authorization'] = `Bearer ${token}`;
    if (upgrade) {
      headers['connection'] = 'Upgrade';
      headers['upgrade'] = incoming['upgrade'];
    }
    return headers;
  };

  const forward = async (req: IncomingMessage, res: ServerResponse, path: string, retried: boolean): Promise<void> => {
    let token: string;
    try {
      token = await options.token();
    } catch (error) {
      return answer(res, 503, `no token to send: ${error instanceof Error ? error.message : String(error)}`);
    }
    const replayable = IDEMPOTENT.has(req.method ?? '') && !hasBody(req);
    let refusal: { status: number; headers: IncomingHttpHeaders; body: Collector } | undefined;
    dispatcher.stream(
      {
        origin: target.origin,
        path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: upstreamHeaders(req.headers, token, false) as Record<string, string | string[]>,
        body: hasBody(req) ? req : null,
      },
      ({ statusCode, headers }) => {
        const answered = headers as IncomingHttpHeaders;
        if (isIapRefusal(statusCode, answered)) {
          refusal = { status: statusCode, headers: answered, body: new Collector(REFUSAL_BYTES) };
          return refusal.body;
        }
        res.writeHead(statusCode, downstreamHeaders(answered, target, origin()));
        return res;
      },
      (error) => {
        if (error) {
          const failure = error as NodeJS.ErrnoException;
          options.count?.('upstream-error');
          if (!res.headersSent) answer(res, /TIMEOUT/.test(failure.code ?? '') ? 504 : 502, upstreamReason(failure, target, idleTimeoutMs));
          else res.destroy();
          return;
        }
        if (refusal) refused(req, res, path, retried, replayable, token, refusal);
      },
    );
  };

  /** IAP refused the token: ask the caller what to say, and retry once with a fresh token where that is safe. */
  const refused = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    retried: boolean,
    replayable: boolean,
    token: string,
    refusal: { status: number; headers: IncomingHttpHeaders; body: Collector },
  ): void => {
    const body = refusal.body.text(refusal.headers['content-encoding']);
    const final = retried || !replayable;
    options
      .onIapRefusal(refusal.status, body, token, final)
      .then(async ({ explanation, retry }) => {
        if (retry && !final && !res.destroyed) return forward(req, res, path, true);
        const headers = downstreamHeaders(refusal.headers, target, origin());
        // The body is sent decoded, with the diagnosis under it.
        delete headers['content-encoding'];
        const text = `${body.replace(/\s+$/, '')}\n\niap-token: ${explanation}\n`;
        headers['x-iap-token-diagnosis'] = explanation.replace(/[^\x20-\x7e]/g, '?');
        headers['content-length'] = String(Buffer.byteLength(text));
        res.writeHead(refusal.status, headers);
        res.end(req.method === 'HEAD' ? undefined : text);
        return undefined;
      })
      .catch((error: unknown) => {
        options.log(`Proxy error after IAP's refusal: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) answer(res, 502, 'the proxy failed on this request');
        else res.destroy();
      });
  };

  return {
    request: (req, res, path) => {
      forward(req, res, path, false).catch((error: unknown) => {
        options.log(`Proxy error: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) answer(res, 502, 'the proxy failed on this request');
        else res.destroy();
      });
    },
    upgrade: (req, socket, head, path) => {
      options.count?.('websocket');
      upgraded.add(socket);
      socket.on('close', () => upgraded.delete(socket));
      socket.on('error', () => socket.destroy());
      options
        .token()
        .then((token) => {
          const upstream = send({
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port,
            method: req.method,
            path,
            headers: upstreamHeaders(req.headers, token, true),
          });
          upstream.on('upgrade', (up, upSocket, upHead) => {
            socket.write(rawHead(101, up.statusMessage ?? 'Switching Protocols', up.rawHeaders));
            if (upHead.length) socket.write(upHead);
            if (head.length) upSocket.write(head);
            upSocket.on('error', () => socket.destroy());
            socket.on('close', () => upSocket.destroy());
            upSocket.on('close', () => socket.destroy());
            upSocket.pipe(socket).pipe(upSocket);
          });
          upstream.on('response', (up) => {
            // No upgrade (IAP refused, or the app): the answer goes back as it is, and the connection ends.
            socket.write(rawHead(up.statusCode ?? 502, up.statusMessage ?? '', up.rawHeaders));
            up.pipe(socket);
          });
          upstream.on('error', (error: NodeJS.ErrnoException) => {
            options.count?.('upstream-error');
            socket.end(rawAnswer(502, upstreamReason(error, target, idleTimeoutMs)));
          });
          upstream.end();
        })
        .catch((error: unknown) =>
          socket.end(rawAnswer(503, `no token to send: ${error instanceof Error ? error.message : String(error)}`)),
        );
    },
    close: async () => {
      for (const socket of upgraded) socket.destroy();
      await dispatcher.destroy();
    },
  };
}

/** The path and query of a request, also from an absolute-form URL (whose host is ignored: the target is fixed). */
export function requestPath(url: string): string | undefined {
  if (url.startsWith('/')) return url;
  if (/^https?:\/\//i.test(url)) {
    try {
      const parsed = new URL(url);
      return `${parsed.pathname}${parsed.search}`;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The app's headers for the client: hop-by-hop ones dropped; a `Location` on the target rewritten to the proxy, and a
 * cookie's `Domain` naming the target dropped, so that the client stays on the proxy. Nothing else is changed.
 */
function downstreamHeaders(headers: IncomingHttpHeaders, target: URL, origin: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  const location = headers['location'];
  if (typeof location === 'string' && origin) {
    try {
      const url = new URL(location);
      if (url.origin === target.origin) out['location'] = `${origin}${url.pathname}${url.search}${url.hash}`;
    } catch {
      // A relative Location stays as it is: it is relative to the proxy already.
    }
  }
  // One cookie may come as a string, several as a list (undici passes both).
  const cookies = headers['set-cookie'] as string | string[] | undefined;
  if (cookies) out['set-cookie'] = [cookies].flat().map((cookie) => withoutTargetDomain(cookie, target.hostname));
  return out;
}

function withoutTargetDomain(cookie: string, hostname: string): string {
  // The first part is the cookie's own name=value (which may be named "domain"); attributes follow.
  const [pair = '', ...attributes] = cookie.split(';');
  return [
    pair,
    ...attributes.filter((attribute) => {
      const [name = '', value = ''] = attribute.split('=', 2);
      return !(name.trim().toLowerCase() === 'domain' && value.trim().replace(/^\./, '').toLowerCase() === hostname.toLowerCase());
    }),
  ].join(';');
}

/** IAP's own answers to a token: 401 and 403, or its sign-in redirect. */
function isIapRefusal(status: number, headers: IncomingHttpHeaders): boolean {
  return (status === 401 || status === 403 || status === 302) && String(headers['x-goog-iap-generated-response']).toLowerCase() === 'true';
}

/** Keeps up to `limit` bytes of a body and drops the rest: IAP's refusal texts are short. */
class Collector extends Writable {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  readonly #limit: number;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.#size < this.#limit) this.#chunks.push(chunk.subarray(0, this.#limit - this.#size));
    this.#size += chunk.length;
    done();
  }

  /** The body as text, decoded when the server compressed it (undecodable or cut short: what could be read). */
  text(encoding: string | string[] | undefined): string {
    const bytes = Buffer.concat(this.#chunks);
    const decode: Record<string, (input: Buffer) => Buffer> = { gzip: gunzipSync, deflate: inflateSync, br: brotliDecompressSync };
    const decoder =
      decode[
        String(encoding ?? '')
          .trim()
          .toLowerCase()
      ];
    if (!decoder) return bytes.toString('utf8');
    try {
      return decoder(bytes).toString('utf8').slice(0, this.#limit);
    } catch {
      return '';
    }
  }
}

export function answer(res: ServerResponse, status: number, reason: string): void {
  const text = `iap-token proxy: ${reason}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-iap-token-diagnosis': reason.replace(/[^\x20-\x7e]/g, '?'),
  });
  res.end(text);
}

export function rawAnswer(status: number, reason: string): string {
  const text = `iap-token proxy: ${reason}\n`;
  return `HTTP/1.1 ${status} ${status === 503 ? 'Service Unavailable' : 'Bad Gateway'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`;
}

function rawHead(status: number, message: string, rawHeaders: readonly string[]): string {
  const lines = [`HTTP/1.1 ${status} ${message}`];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i] ?? ''}: ${rawHeaders[i + 1] ?? ''}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function upstreamReason(error: NodeJS.ErrnoException, target: URL, idleTimeoutMs: number): string {
  switch (error.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UPSTREAM_TIMEOUT':
      return `${target.host} sent nothing for ${idleTimeoutMs / 1000} s`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `the connection to ${target.host} was reset`;
    case 'ECONNREFUSED':
      return `${target.host} refused the connection`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the name ${target.hostname} did not resolve`;
    default:
      return `could not reach ${target.host} (${error.code ?? error.message})`;
  }
}
