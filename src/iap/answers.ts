// What IAP says when it answers, read one way by the smoke tests, the doctor and the agent's proxy. IAP marks every
// answer it makes itself with `X-Goog-IAP-Generated-Response: true`; its 401 bodies say why the token was refused.
// What each refusal means, and what to change, is told here once, in the words each reader needs (src/iap/refusals.ts).

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Who gave an answer: IAP itself (its mark), the app behind it, or nobody (no answer came). */
export type AnsweredBy = 'iap' | 'app' | null;

/** Answers IAP made itself carry this header; everything else passed IAP and came from the app. */
export function answeredByIap(headers: Headers): boolean {
  return String(headers['x-goog-iap-generated-response'] ?? '').toLowerCase() === 'true';
}

/** Who answered, from the answer's headers; `null` when there was no answer. */
export function answeredBy(headers: Headers | undefined): AnsweredBy {
  if (!headers) return null;
  return answeredByIap(headers) ? 'iap' : 'app';
}

/**
 * IAP's own answers to a token: 401 and 403, or its sign-in redirect. The proxies hold these back from the client
 * to explain them (src/http/ takes this predicate as an option: the HTTP layer does not know IAP).
 */
export function isIapRefusal(status: number, headers: Headers): boolean {
  return (status === 401 || status === 403 || status === 302) && answeredByIap(headers);
}

/** IAP's answers to a stranger (a request without a token): its sign-in redirect, 401 or 403. */
const STRANGER_REFUSALS: ReadonlySet<number> = new Set([302, 303, 307, 401, 403]);

/** Did IAP itself turn away a request without a token (a smoke test's DENY line passes only then)? */
export function turnedAwayByIap(status: number | null, from: AnsweredBy): boolean {
  return from === 'iap' && status !== null && STRANGER_REFUSALS.has(status);
}

/** Who answered, as a log line says it. */
export function answererName(from: AnsweredBy): string {
  return from === 'iap' ? 'IAP' : 'the app';
}

/** Why IAP refused a token, from its status and the first words of its body. */
export type IapRefusal = 'expired' | 'audience' | 'scope' | 'email' | 'signature' | 'parse' | 'empty' | 'forbidden' | 'sign-in' | 'other';

/** Only the start of a body is read: IAP's reasons are one line, and a large page must not cost a scan. */
const READ_CHARS = 512;

export function iapRefusal(status: number, body: string): IapRefusal {
  if (status === 403) return 'forbidden';
  if (status >= 300 && status < 400) return 'sign-in';
  const said = body.slice(0, READ_CHARS).toLowerCase();
  if (said.includes('expired') || said.includes('in the future') || said.includes('not yet valid')) return 'expired';
  if (said.includes('audience')) return 'audience';
  // An access token without the openid and email scopes; read before `email`, which the scope's name contains.
  if (said.includes('scope')) return 'scope';
  if (said.includes('email')) return 'email';
  if (said.includes('signature')) return 'signature';
  if (said.includes('parse')) return 'parse';
  if (said.includes('empty token')) return 'empty';
  return 'other';
}
