import { ApiError, type ApiFailure } from '../errors.ts';
import { parseJsonObject } from '../json.ts';
import { describeBody, isRetryableNetworkFailure, isRetryableStatus, networkFailure } from './failures.ts';
import { nodeTransport } from './transport.ts';
import { jitteredBackoff } from '../backoff.ts';
import type { LogLine } from '../logger.ts';

// The only module that talks to the network. It gives every call a timeout, retries what can heal (429, 5xx, a
// connection that failed or timed out) with jittered exponential backoff inside a bounded time budget, never retries
// other 4xx, never follows a redirect (a token must not travel to another origin), honours https_proxy/no_proxy, and
// turns Google's several error formats into one `ApiFailure`.

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

/**
 * How a service spells its failures, for the calls that take only a 2xx answer: Google's are src/google/failure.ts,
 * which the HTTP layer does not know; `plainFailure` (src/http/failures.ts) for a service with no format.
 */
export type FailureReader = (response: HttpResponse) => ApiFailure;

/** A request whose answer must be 2xx, and the service's way of saying why not. */
export interface ServiceRequest extends HttpRequest {
  readonly failure: FailureReader;
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
  readonly log?: LogLine;
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

export class Http {
  readonly #transport: Transport;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #log: LogLine;
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
  async text(request: ServiceRequest): Promise<string> {
    return (await this.#ok(request)).response.body;
  }

  /** Sends the request and parses a 2xx JSON answer; anything else becomes an `ApiError` quoting the service. */
  async json(request: ServiceRequest): Promise<Record<string, unknown>> {
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
  async ok(request: ServiceRequest): Promise<HttpResponse> {
    return (await this.#ok(request)).response;
  }

  async #ok(request: ServiceRequest): Promise<{ response: HttpResponse; attempts: number }> {
    const sent = await this.send(request);
    if (sent.response.status < 200 || sent.response.status > 299) {
      throw apiError(request, request.failure(sent.response), sent.attempts);
    }
    return sent;
  }

  /**
   * Jitter over an exponential ceiling, or longer when the server's Retry-After asks for more. A Retry-After beyond
   * `maxDelayMs` is an answer, not a wait: Infinity, and the caller stops retrying.
   */
  #backoff(attempt: number, response: HttpResponse | undefined, policy: RetryPolicy): number {
    const jittered = jitteredBackoff(attempt, policy.baseDelayMs, policy.maxDelayMs, this.#random);
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

function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
