import type { Agent } from 'node:http';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import { ApiError, type ApiFailure } from '../errors.ts';
import { parseJsonObject } from '../json.ts';

/**
 * The only module that talks to the network. It gives every call a timeout, retries what can heal (429, 5xx, a
 * connection that failed or timed out) with jittered exponential backoff inside a bounded time budget, never retries
 * other 4xx, never follows a redirect (a token must not travel to another origin), honours https_proxy/no_proxy, and
 * turns Google's several error formats into one `ApiFailure`.
 */

export interface HttpRequest {
  /** What this call is, for logs and errors: "STS token exchange". */
  readonly what: string;
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Bypass any proxy: for the metadata server, which is only reachable from the machine itself. */
  readonly direct?: boolean;
  /** Per-call limits and rules, for endpoints that must fail fast (a metadata server that is not there) or that
   *  heal slowly (an app behind IAP while an IAM grant propagates). */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * What the user should change when this request fails for good, declared by the client that knows the API: the
   * error is built once, complete, and never patched on its way up.
   */
  readonly remedy?: (failure: ApiFailure) => string | undefined;
}

export interface RetryPolicy {
  /** Attempts, the first included. */
  readonly attempts: number;
  /** Per attempt, from connect to the last byte. */
  readonly timeoutMs: number;
  /** No new attempt starts once this much time has passed since the first. */
  readonly budgetMs: number;
  /** The first wait's ceiling; each next one doubles, up to `maxDelayMs`. Each wait is jittered to 50–100 %. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Which answers are worth another attempt; by default 408, 429 and 5xx but 501. */
  readonly retryable: (response: HttpResponse) => boolean;
  /** How an answer reads in the log line of a retry: "HTTP 503", "IAP 403". */
  readonly describe: (response: HttpResponse) => string;
  /** Which failures without an answer are worth another attempt; by default all but DNS and TLS-trust errors. */
  readonly retryableFailure: (failure: ApiFailure) => boolean;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** Sends one request; rejects on a network failure or when `signal` aborts. */
export type Transport = (request: HttpRequest, signal: AbortSignal) => Promise<HttpResponse>;

export interface HttpOptions extends Partial<RetryPolicy> {
  readonly transport?: Transport;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/** Google's APIs: five attempts, 10 s each, within 30 s, waits of 0.5, 1, 2, 4 s (ceilings). */
export const DEFAULT_POLICY: RetryPolicy = {
  attempts: 5,
  timeoutMs: 10_000,
  budgetMs: 30_000,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  retryable: (response) => isRetryableStatus(response.status),
  describe: (response) => `HTTP ${response.status}`,
  retryableFailure: (failure) => isRetryableNetworkFailure(failure),
};
/** Bodies are read up to this size; the rest is dropped (a token answer is far smaller, an app's page may not be). */
const MAX_BODY_BYTES = 1 << 20;

export class Http {
  readonly #transport: Transport;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #policy: RetryPolicy;

  constructor(options: HttpOptions = {}) {
    const { transport, sleep, random, now, log, ...policy } = options;
    this.#transport = transport ?? nodeTransport;
    this.#sleep = sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = random ?? Math.random;
    this.#now = now ?? Date.now;
    this.#log = log ?? (() => undefined);
    this.#policy = { ...DEFAULT_POLICY, ...policy };
  }

  /** Sends the request, retrying what can heal. Resolves with the last response, whatever its status. */
  async send(request: HttpRequest): Promise<{ response: HttpResponse; attempts: number }> {
    const started = this.#now();
    const policy = { ...this.#policy, ...request.retry };
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse | undefined;
      let failure: ApiFailure | undefined;
      try {
        response = await this.#transport(request, AbortSignal.timeout(policy.timeoutMs));
      } catch (error) {
        failure = networkFailure(error, request, policy.timeoutMs);
      }
      const retryable = response ? policy.retryable(response) : failure !== undefined && policy.retryableFailure(failure);
      const delay = this.#backoff(attempt, response, policy);
      const left = policy.budgetMs - (this.#now() - started);
      if (!retryable || attempt >= policy.attempts || delay >= left) {
        if (response) return { response, attempts: attempt };
        throw apiError(request, failure ?? { status: 0, message: 'no answer' }, attempt);
      }
      const why = response ? policy.describe(response) : (failure?.message ?? 'no answer');
      const of = policy.attempts <= 10 ? ` of ${policy.attempts}` : '';
      this.#log(`${request.what}: ${why} (attempt ${attempt}${of}); retrying in ${seconds(delay)} s (${seconds(left)} s left)`);
      await this.#sleep(delay);
    }
  }

  /** Sends the request and returns a 2xx answer's body; anything else becomes an `ApiError` quoting the service. */
  async text(request: HttpRequest): Promise<string> {
    return (await this.#ok(request)).response.body;
  }

  /** Sends the request and parses a 2xx JSON answer; anything else becomes an `ApiError` quoting the service. */
  async json(request: HttpRequest): Promise<Record<string, unknown>> {
    const { response, attempts } = await this.#ok(request);
    const parsed = parseJsonObject(response.body);
    if (!parsed) {
      throw apiError(
        request,
        { status: response.status, message: `the response is not a JSON object (${describeBody(response)})` },
        attempts,
      );
    }
    return parsed;
  }

  /** Sends the request and returns a 2xx answer whole (status, headers, body); anything else becomes an `ApiError`. */
  async ok(request: HttpRequest): Promise<HttpResponse> {
    return (await this.#ok(request)).response;
  }

  async #ok(request: HttpRequest): Promise<{ response: HttpResponse; attempts: number }> {
    const sent = await this.send(request);
    if (sent.response.status < 200 || sent.response.status > 299) {
      throw apiError(request, parseFailure(sent.response), sent.attempts);
    }
    return sent;
  }

  /**
   * Jitter over an exponential ceiling, or longer when the server's Retry-After asks for more. A Retry-After beyond
   * `maxDelayMs` is an answer, not a wait: Infinity, and the caller stops retrying.
   */
  #backoff(attempt: number, response: HttpResponse | undefined, policy: RetryPolicy): number {
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
    const jittered = Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
    const retryAfter = response ? retryAfterMs(response.headers['retry-after'], this.#now()) : undefined;
    if (retryAfter === undefined) return jittered;
    return retryAfter > policy.maxDelayMs ? Infinity : Math.max(retryAfter, jittered);
  }
}

function apiError(request: HttpRequest, failure: ApiFailure, attempts: number): ApiError {
  return new ApiError(request.what, failure, attempts, request.remedy?.(failure));
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1);
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501);
}

/** A name that does not resolve or a certificate that is not trusted will not heal in seconds: no retry. */
export function isRetryableNetworkFailure(failure: ApiFailure): boolean {
  const code = failure.code ?? '';
  return code !== 'ENOTFOUND' && !TLS_TRUST_CODES.has(code) && !/^PROXY_4/.test(code);
}

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function networkFailure(error: unknown, request: HttpRequest, timeoutMs: number): ApiFailure {
  const host = safeHost(request.url);
  const err = error as { name?: string; code?: string; message?: string };
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || err.code === 'ABORT_ERR') {
    return { status: 0, code: 'TIMEOUT', message: `no complete answer from ${host} within ${timeoutMs / 1000} s` };
  }
  const known: Record<string, string> = {
    ECONNRESET: `the connection to ${host} was reset`,
    ECONNREFUSED: `${host} refused the connection`,
    ENOTFOUND: `the name ${host} did not resolve (DNS)`,
    EAI_AGAIN: `the name ${host} did not resolve (DNS, temporary)`,
    ETIMEDOUT: `the connection to ${host} timed out`,
    EPIPE: `the connection to ${host} closed while sending`,
  };
  const code = err.code ?? 'ERROR';
  if (TLS_TRUST_CODES.has(code)) {
    return {
      status: 0,
      code,
      message: `the TLS certificate of ${host} is not trusted (${code}); behind a TLS-inspecting proxy, give the runner the proxy's CA with NODE_EXTRA_CA_CERTS`,
    };
  }
  if (err.message?.startsWith('tunneling socket could not be established')) {
    // The proxy answered CONNECT with a status (407: it wants credentials in the proxy URL): that will not heal.
    const proxyStatus = /statusCode=(\d{3})/.exec(err.message)?.[1];
    return {
      status: 0,
      code: proxyStatus ? `PROXY_${proxyStatus}` : code,
      message: `the proxy (https_proxy/http_proxy) did not open a tunnel to ${host}: ${err.message}`,
    };
  }
  return { status: 0, code, message: known[code] ?? `could not reach ${host}: ${err.message ?? code}` };
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the server';
  }
}

/**
 * Google answers errors three ways: Google API style `{error: {code, message, status, details}}`, OAuth style
 * `{error: "invalid_grant", error_description}`, and plain text or HTML (metadata server, proxies, load balancers).
 */
export function parseFailure(response: HttpResponse): ApiFailure {
  const json = parseJsonObject(response.body);
  const error = json?.['error'];
  if (error && typeof error === 'object') {
    const e = error as Record<string, unknown>;
    const details = Array.isArray(e['details']) ? (e['details'] as Array<Record<string, unknown>>) : [];
    const reason = details.map((d) => d?.['reason']).find((r): r is string => typeof r === 'string');
    const permission = details
      .map((d) => (d?.['metadata'] as Record<string, unknown> | undefined)?.['permission'])
      .find((p): p is string => typeof p === 'string');
    return {
      status: response.status,
      ...(typeof e['status'] === 'string' ? { code: e['status'] } : {}),
      message: typeof e['message'] === 'string' ? e['message'] : snippet(response.body),
      ...(reason ? { reason } : {}),
      ...(permission ? { permission } : {}),
    };
  }
  if (typeof error === 'string') {
    const description = json?.['error_description'];
    return { status: response.status, code: error, message: typeof description === 'string' ? description : error };
  }
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers['location'];
    const target = typeof location === 'string' ? ` to ${safeOrigin(location)}` : '';
    return { status: response.status, message: `a redirect${target}, not followed: tokens are never sent on` };
  }
  return { status: response.status, message: snippet(response.body) || '(empty body)' };
}

function safeOrigin(location: string): string {
  try {
    return new URL(location).origin;
  } catch {
    return 'another location';
  }
}

/** The title of an HTML page (a proxy's error, a sign-in page), which names it better than its markup. */
function htmlTitle(body: string): string | undefined {
  // Linear, and over the first few KB only: a title is near the top, and a body of repeated "<title" must not cost
  // time that no timeout can interrupt (a regex with [^>]* from each "<title" would be quadratic).
  const head = body.slice(0, TITLE_SEARCH_CHARS);
  const open = head.toLowerCase().indexOf('<title');
  if (open === -1) return undefined;
  const start = head.indexOf('>', open);
  const end = start === -1 ? -1 : head.toLowerCase().indexOf('</title>', start);
  return end === -1 ? undefined : head.slice(start + 1, end).trim();
}

/** How far into a body a page's title is looked for. */
const TITLE_SEARCH_CHARS = 8192;

/**
 * What a successful answer that is not JSON looked like, without quoting it: it may be a token in another format, or
 * cut off at the size limit, and so unmasked. An HTML page (a proxy's or a sign-in page) is named by its title.
 */
function describeBody(response: HttpResponse): string {
  const type = String(response.headers['content-type'] ?? 'no content type').split(';')[0];
  const title = htmlTitle(response.body);
  return title ? `HTML page "${title.slice(0, 100)}"` : `${response.body.length} characters of ${type}`;
}

/** A short, single-line rendering of a body for an error message; an HTML page is reduced to its title. */
export function snippet(body: string): string {
  const title = htmlTitle(body);
  // Only what can be shown is looked at: the whitespace of a megabyte is not folded to keep 300 characters.
  const text = (title ? `HTML page "${title}"` : body.slice(0, 1_000)).replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/**
 * node:http(s). Modules load on first use, so a run pays only for what it calls (most never load the tunnelling
 * agent). The proxy decision is @actions/http-client's, as for every action: https_proxy/http_proxy/no_proxy, and
 * never for this machine's own addresses; its agent then tunnels through the proxy.
 */
const nodeTransport: Transport = async (request, signal) => {
  const url = new URL(request.url);
  // getBuiltinModule, not import(): an ES import of node:http builds its namespace, whose lazy getters load Node's
  // WebSocket client (measured: 12 ms of start-up CPU). The metadata server is plain HTTP and never loads TLS.
  const { request: send } = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
  const agent = !request.direct && getProxyUrl(url) ? await proxyAgent(request.url) : undefined;
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers: Record<string, string> = { 'user-agent': 'iap-token', ...request.headers };
    if (body) headers['content-length'] = String(body.length);
    const req = send(url, { method: request.method, headers, signal, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk.subarray(0, Math.max(0, MAX_BODY_BYTES - size)));
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) {
          // Enough to judge the answer: stop reading and keep what arrived.
          done();
          req.destroy();
        }
      });
      res.on('end', done);
      res.on('error', reject);
    });
    req.on('error', reject);
    // The signal alone does not reach a request still waiting for a socket (a proxy that never answers CONNECT):
    // on timeout, end the request and settle here whatever state it is in.
    const onAbort = () => {
      req.destroy(signal.reason as Error);
      reject(signal.reason as Error);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal.removeEventListener('abort', onAbort));
    req.end(body);
  });
};

async function proxyAgent(url: string): Promise<Agent> {
  const { HttpClient } = await import('@actions/http-client');
  return new HttpClient('iap-token').getAgent(url);
}
