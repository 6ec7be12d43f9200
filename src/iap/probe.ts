import { ApiError } from '../errors.ts';
import type { Http, HttpResponse, RetryPolicy } from '../http/client.ts';
import { displayUrl } from '../urls.ts';
import { answeredBy, type AnsweredBy } from './answers.ts';

/**
 * A request to an app's URL without any token, redirects not followed: what IAP says to a stranger. It shows whether
 * IAP is in front (the X-Goog-IAP-Generated-Response mark on its answer) and which OAuth client IAP signs people in
 * with (the client_id of its sign-in redirect to accounts.google.com). Nothing secret is ever sent.
 */
export interface IapProbe {
  /** The status, or null when nothing answered. */
  readonly status: number | null;
  /** Who answered: IAP itself (its mark), something else, or nobody. */
  readonly from: AnsweredBy;
  /** The OAuth client of IAP's sign-in redirect, when the answer was one. */
  readonly clientId: string | undefined;
  /** Why nothing answered, when nothing did. */
  readonly failure: string | undefined;
  readonly attempts: number;
  /** The answer itself, for callers that read more of it. */
  readonly response: HttpResponse | undefined;
}

const CLIENT_ID = /^[\w.-]+\.apps\.googleusercontent\.com$/;

export async function probeIap(
  http: Http,
  url: string,
  options: { headers?: Readonly<Record<string, string>>; retry?: Partial<RetryPolicy> } = {},
): Promise<IapProbe> {
  let response: HttpResponse | undefined;
  let attempts: number;
  let failure: string | undefined;
  try {
    ({ response, attempts } = await http.send({
      what: `IAP check of ${displayUrl(url)} (no token)`,
      method: 'GET',
      url,
      ...(options.headers ? { headers: options.headers } : {}),
      retry: { attempts: 3, timeoutMs: 10_000, budgetMs: 20_000, ...options.retry },
    }));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    attempts = error.attempts;
    failure = error.failure.message;
  }
  if (!response) return { status: null, from: null, clientId: undefined, failure, attempts, response };
  // IAP marks every answer it makes itself, its sign-in redirect included; a redirect to Google's sign-in without the
  // mark is some other server's, and names no client worth minting a token for.
  const from = answeredBy(response.headers);
  const signIn = from === 'iap' ? googleSignIn(response, url) : undefined;
  const clientId = signIn?.searchParams.get('client_id') ?? '';
  return {
    status: response.status,
    from,
    clientId: CLIENT_ID.test(clientId) ? clientId : undefined,
    failure: undefined,
    attempts,
    response,
  };
}

/**
 * A redirect to Google's sign-in page, as IAP sends a stranger. Only such a redirect names the client IAP uses; any
 * other server could name any client, so any other location counts for nothing.
 */
function googleSignIn(response: HttpResponse, base: string): URL | undefined {
  const location = response.headers['location'];
  if (response.status < 300 || response.status > 399 || typeof location !== 'string') return undefined;
  let signIn: URL;
  try {
    signIn = new URL(location, base);
  } catch {
    return undefined;
  }
  return signIn.protocol === 'https:' && signIn.hostname === 'accounts.google.com' ? signIn : undefined;
}
