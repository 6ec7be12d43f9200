import * as http from 'node:http';
import * as https from 'node:https';
import { HttpClient } from '@actions/http-client';
import { ApiError, type ApiFailure } from './errors.ts';

/**
 * The only module that talks to the network. It gives every call a timeout, retries what can heal (429, 5xx, a
 * connection that failed or timed out) with jittered exponential backoff inside a bounded time budget, never retries
 * other 4xx, never follows a redirect (a token must not travel to another origin), honours https_proxy/no_proxy, and
 * turns Google's several error formats into one `ApiFailure`.
 */

export interface HttpRequest {
  /** What this call is, for logs and errors: "STS token exchange". */
  readonly what: string;
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Bypass any proxy: for the metadata server, which is only reachable from the machine itself. */
  readonly direct?: boolean;
  /** Per-call limits, for endpoints that must fail fast (a metadata server that is not there). */
  readonly timeoutMs?: number;
  readonly attempts?: number;
  readonly budgetMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** Sends one request; rejects on a network failure or when `signal` aborts. */
export type Transport = (request: HttpRequest, signal: AbortSignal) => Promise<HttpResponse>;

export interface HttpOptions {
  readonly transport?: Transport;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
  /** Attempts per call, the first included. */
  readonly attempts?: number;
  /** Per attempt, from connect to the last byte. */
  readonly timeoutMs?: number;
  /** No new attempt starts once this much time has passed since the first. */
  readonly budgetMs?: number;
}

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_BUDGET_MS = 30_000;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8_000;
const MAX_BODY_BYTES = 1 << 20;

export class Http {
  readonly #transport: Transport;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #attempts: number;
  readonly #timeoutMs: number;
  readonly #budgetMs: number;

  constructor(options: HttpOptions = {}) {
    this.#transport = options.transport ?? nodeTransport;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => undefined);
    this.#attempts = options.attempts ?? DEFAULT_ATTEMPTS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
  }

  /** Sends the request, retrying what can heal. Resolves with the last response, whatever its status. */
  async send(request: HttpRequest): Promise<{ response: HttpResponse; attempts: number }> {
    const started = this.#now();
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    const attempts = request.attempts ?? this.#attempts;
    const budgetMs = request.budgetMs ?? this.#budgetMs;
    for (let attempt = 1; ; attempt++) {
      let outcome: HttpResponse | ApiFailure;
      try {
        outcome = await this.#transport(request, AbortSignal.timeout(timeoutMs));
      } catch (error) {
        outcome = networkFailure(error, request, timeoutMs);
      }
      const retryable = 'body' in outcome ? isRetryableStatus(outcome.status) : isRetryableNetworkFailure(outcome);
      const delay = this.#backoff(attempt, 'body' in outcome ? outcome : undefined);
      const outOfTime = this.#now() - started + delay >= budgetMs;
      if (!retryable || attempt >= attempts || outOfTime) {
        if ('body' in outcome) return { response: outcome, attempts: attempt };
        throw new ApiError(request.what, outcome, attempt);
      }
      const why = 'body' in outcome ? `HTTP ${outcome.status}` : outcome.message;
      this.#log(`${request.what}: ${why} (attempt ${attempt} of ${attempts}); retrying in ${(delay / 1000).toFixed(1)} s`);
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
      throw new ApiError(
        request.what,
        { status: response.status, message: `the response is not a JSON object (${snippet(response.body)})` },
        attempts,
      );
    }
    return parsed;
  }

  async #ok(request: HttpRequest): Promise<{ response: HttpResponse; attempts: number }> {
    const sent = await this.send(request);
    if (sent.response.status < 200 || sent.response.status > 299) {
      throw new ApiError(request.what, parseFailure(sent.response), sent.attempts);
    }
    return sent;
  }

  /** Full jitter over an exponential ceiling, or the server's Retry-After when it names a bearable wait. */
  #backoff(attempt: number, response: HttpResponse | undefined): number {
    const retryAfter = response ? retryAfterMs(response.headers['retry-after'], this.#now()) : undefined;
    if (retryAfter !== undefined) return Math.min(retryAfter, MAX_DELAY_MS);
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501);
}

/** A name that does not resolve or a certificate that is not trusted will not heal in seconds: no retry. */
function isRetryableNetworkFailure(failure: ApiFailure): boolean {
  return failure.code !== 'ENOTFOUND' && !TLS_TRUST_CODES.has(failure.code ?? '');
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
    ERR_BODY_TOO_LARGE: `the answer from ${host} was larger than ${MAX_BODY_BYTES} bytes`,
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
    return { status: 0, code, message: `the proxy (https_proxy/http_proxy) did not open a tunnel to ${host}: ${err.message}` };
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

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
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

/** A short, single-line rendering of a body for an error message; an HTML page is reduced to its title. */
export function snippet(body: string): string {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(body)?.[1];
  const text = (title ? `HTML page "${title.trim()}"` : body).replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** node:http(s), with the proxy agent @actions/http-client picks from https_proxy/http_proxy/no_proxy. */
const nodeTransport: Transport = (request, signal) =>
  new Promise((resolve, reject) => {
    const url = new URL(request.url);
    const agent = request.direct ? undefined : new HttpClient('iap-token').getAgent(request.url);
    const send = url.protocol === 'https:' ? https.request : http.request;
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers: Record<string, string> = { 'user-agent': 'iap-token', ...request.headers };
    if (body) headers['content-length'] = String(body.length);
    const req = send(url, { method: request.method, headers, agent, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(Object.assign(new Error('body too large'), { code: 'ERR_BODY_TOO_LARGE' }));
        else chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
