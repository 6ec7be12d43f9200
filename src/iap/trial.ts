import { ApiError } from '../errors.ts';
import type { Http, HttpResponse } from '../http/client.ts';
import { displayUrl } from '../urls.ts';
import { answeredBy, iapRefusal, type AnsweredBy, type IapRefusal } from './answers.ts';

/** A trial is one request (two on a 5xx): it diagnoses or chooses; it does not wait for grants to propagate. */
export const TRIAL_RETRY = { attempts: 2, timeoutMs: 15_000, budgetMs: 20_000 };

/** What IAP (or the app behind it) said to one token sent once: the doctor's trials and token_type auto's last try. */
export interface IapTrial {
  /** The status, or null when nothing answered. */
  readonly status: number | null;
  readonly from: AnsweredBy;
  /** Why IAP refused it, when IAP itself answered 401, 403 or with its sign-in. */
  readonly refusal: IapRefusal | undefined;
  /** IAP took the token: the app answered, or IAP refused only its principal (403: a grant to make, not a token to change). */
  readonly accepted: boolean;
  readonly response: HttpResponse | undefined;
  /** Why nothing answered, when nothing did. */
  readonly failure: string | undefined;
}

/** IAP took the token: it passed it to the app (whatever the app said), or refused only its principal (403). */
export function tookToken(from: AnsweredBy, refusal: IapRefusal | undefined): boolean {
  return from === 'app' || refusal === 'forbidden';
}

/**
 * Sends `token` once to `url` in Authorization, redirects not followed. Only for URLs IAP was seen to answer for: a
 * token goes nowhere else.
 */
export async function sendThroughIap(http: Http, url: URL, token: string, what: string): Promise<IapTrial> {
  try {
    const { response } = await http.send({
      what: `${what} at ${displayUrl(url)}`,
      method: 'GET',
      url: url.href,
      headers: { authorization: `Bearer ${token}` },
      retry: TRIAL_RETRY,
    });
    const from = answeredBy(response.headers);
    const refusal = from === 'iap' ? iapRefusal(response.status, response.body) : undefined;
    return { status: response.status, from, refusal, accepted: tookToken(from, refusal), response, failure: undefined };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { status: null, from: null, refusal: undefined, accepted: false, response: undefined, failure: error.failure.message };
  }
}
