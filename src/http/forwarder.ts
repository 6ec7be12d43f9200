import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import type { Dispatcher } from 'undici';
import { Pool, ProxyAgent } from './undici.ts';
import { ActionError, messageOf } from '../errors.ts';
import { decodedText, Exchange, type RefusalTest } from './exchange.ts';
import type { TokenHeader } from '../config.ts';
import { downstreamHeaders, upstreamHeaders } from './headers.ts';
import { answer, upstreamReason } from './replies.ts';
import { forwardWebSocket } from './websocket.ts';
import type { LogLine } from '../logger.ts';

// Forwarding to one origin with a token, shared by the reverse proxy (one origin) and the forward proxy (one per
// intercepted host): the token in the header IAP reads, bodies streamed both ways with back-pressure (none held
// whole), kept-alive upstream connections, redirects never followed, IAP's refusals handed to the caller, 103 Early
// Hints passed on, WebSockets passed through (src/http/websocket.ts). A failed exchange ends that exchange only: the
// client gets a 502 or 504 when nothing was sent yet, else its connection is closed; a client that leaves cancels its
// upstream request.

export interface ForwarderOptions {
  /** The origin every request goes to. */
  readonly target: URL;
  /** `authorization`, or `proxy-authorization` for apps that read their own Authorization (passed through). */
  readonly header: TokenHeader;
  /** The token to send now; rejects with a one-line reason when none can be had (the client then gets 503). */
  readonly token: () => Promise<string>;
  /** Which answers are IAP's refusals, held back from the client and handed to `onIapRefusal`. */
  readonly isRefusal: RefusalTest;
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
  /**
   * How long the upstream may take to begin its answer (its head), 0 for no limit. Once it has answered, an exchange
   * has no idle limit: a quiet stream (logs followed, a long poll, a watch) lasts as long as its client wants.
   */
  readonly responseTimeoutMs?: number;
  /** At most this many upstream connections at once (one per client connection with a request in flight). */
  readonly maxConnections?: number;
  readonly log: LogLine;
  /** Counts for the summary. */
  readonly count?: (event: 'upstream-error' | 'websocket') => void;
  /** The proxy's own origin, to which a `Location` on the target is rewritten; none for a forward proxy. */
  readonly origin?: () => string;
}

export interface Forwarder {
  /** Forwards one request (its path and query) to the target. */
  request(req: IncomingMessage, res: ServerResponse, path: string): void;
  /** Forwards a WebSocket upgrade and then the bytes both ways. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, path: string): void;
  close(): Promise<void>;
}

/** Methods whose repetition has no further effect; only these are retried, and only without a body. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
export const DEFAULT_RESPONSE_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_CONNECTIONS = 1_000;

export function createForwarder(options: ForwarderOptions): Forwarder {
  const { target } = options;
  const responseTimeoutMs = options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
  // undici's pool for the upstream: kept-alive connections, and measured 1.6 times the throughput of node:http's
  // client as a proxy on this machine (npm run bench). Through https_proxy, its ProxyAgent tunnels.
  const proxyUrl = getProxyUrl(target);
  if (proxyUrl && options.header === 'proxy-authorization') {
    // undici's tunnel through https_proxy claims Proxy-Authorization for the egress proxy itself.
    throw new ActionError(
      `The token cannot travel in Proxy-Authorization to ${target.host} through the https_proxy this machine uses: use the authorization header, or exempt the host with no_proxy.`,
    );
  }
  // No body timeout: an answered exchange may be quiet for as long as its client waits.
  const timeouts = { headersTimeout: responseTimeoutMs, bodyTimeout: 0 };
  // As many upstream connections as client connections may have requests in flight: a few slow answers never queue
  // the others behind them.
  const connections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const dispatcher: Dispatcher = proxyUrl
    ? new ProxyAgent({ uri: proxyUrl.toString(), connections, ...timeouts })
    : new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, ...timeouts });
  const origin = () => options.origin?.() ?? '';
  // Upgraded connections leave the server's keeping: close() ends them itself.
  const upgraded = new Set<Socket>();
  const limitS = responseTimeoutMs / 1000;

  const forward = async (req: IncomingMessage, res: ServerResponse, path: string, retried: boolean): Promise<void> => {
    let token: string;
    try {
      token = await options.token();
    } catch (error) {
      return answer(res, 503, `no token to send: ${messageOf(error)}`);
    }
    if (res.destroyed) return;
    const body = hasBody(req);
    const exchange = new Exchange(req, res, target, origin(), options.isRefusal, (outcome) => {
      if (outcome.kind === 'refused') {
        refused(req, res, path, retried, IDEMPOTENT.has(req.method ?? '') && !body, token, outcome.status, outcome.headers, outcome.body);
        return;
      }
      if (outcome.kind === 'failed') {
        options.count?.('upstream-error');
        const reason = upstreamReason(outcome.error, target, limitS);
        if (outcome.error.code === 'UND_ERR_HEADERS_TIMEOUT') options.log(`${req.method ?? 'GET'} ${path.split('?')[0] ?? ''}: ${reason}.`);
        if (!res.headersSent && !res.destroyed) {
          // A client still uploading reads this answer once it has sent the rest, which the exchange drops as it
          // comes (closing now would reset its connection under the answer).
          answer(res, outcome.error.code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502, reason);
        } else res.destroy();
      }
    });
    dispatcher.dispatch(
      {
        origin: target.origin,
        path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: upstreamHeaders(req.headers, target, options.header, token, false),
        // The body through a stream of its own, which undici may destroy when the upstream stops reading: the request
        // is only unpiped, and its connection stays ours to answer on.
        body: body ? req.pipe(new PassThrough()) : null,
      },
      exchange,
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
    status: number,
    headers: IncomingHttpHeaders,
    raw: Buffer,
  ): void => {
    const body = decodedText(raw, headers['content-encoding']);
    const final = retried || !replayable;
    options
      .onIapRefusal(status, body, token, final)
      .then(async ({ explanation, retry }) => {
        if (retry && !final && !res.destroyed) return forward(req, res, path, true);
        const out = downstreamHeaders(headers, target, origin());
        // The body is sent decoded, with the diagnosis under it.
        delete out['content-encoding'];
        const text = `${body.replace(/\s+$/, '')}\n\niap-token: ${explanation}\n`;
        out['x-iap-token-diagnosis'] = explanation.replace(/[^\x20-\x7e]/g, '?');
        out['content-length'] = String(Buffer.byteLength(text));
        res.writeHead(status, out);
        res.end(req.method === 'HEAD' ? undefined : text);
        return undefined;
      })
      .catch((error: unknown) => failed(res, 'after IAP refused it', error));
  };

  const failed = (res: ServerResponse, when: string, error: unknown): void => {
    options.log(`Proxy error ${when}: ${messageOf(error)}`);
    if (!res.headersSent && !res.destroyed) answer(res, 502, 'the proxy failed on this request');
    else res.destroy();
  };

  return {
    request: (req, res, path) => {
      forward(req, res, path, false).catch((error: unknown) => failed(res, 'on a request', error));
    },
    upgrade: (req, socket, head, path) => {
      options.count?.('websocket');
      upgraded.add(socket);
      socket.on('close', () => upgraded.delete(socket));
      const track = (upstream: Socket): void => {
        upgraded.add(upstream);
        upstream.once('close', () => upgraded.delete(upstream));
      };
      forwardWebSocket({ ...options, responseTimeoutMs, track }, req, socket, head, path);
    },
    close: async () => {
      for (const socket of upgraded) socket.destroy();
      await dispatcher.destroy();
    },
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
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
