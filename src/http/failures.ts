import type { ApiFailure } from '../errors.ts';
import type { HttpRequest, HttpResponse } from './client.ts';

// What a failed exchange means and how a person reads it: which failures are worth a retry, a network error in one
// line, an answer without an error format of its own as an ApiFailure (Google's formats are src/google/failure.ts),
// and a body shown without quoting what could be secret.

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

export function networkFailure(error: unknown, request: HttpRequest, timeoutMs: number): ApiFailure {
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
 * A failed answer as an ApiFailure when its service has no error format of its own (or when it did not use it): a
 * redirect is named, not followed; anything else is its status and a line of its body.
 */
export function plainFailure(response: HttpResponse): ApiFailure {
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
export function describeBody(response: HttpResponse): string {
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
