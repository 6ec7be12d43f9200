/**
 * What IAP says when it refuses, read the same way by the smoke tests and the agent's proxy. IAP marks every answer
 * it makes itself with `X-Goog-IAP-Generated-Response: true`; its 401 bodies say why the token was refused.
 */

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Answers IAP made itself carry this header; everything else passed IAP and came from the app. */
export function answeredByIap(headers: Headers): boolean {
  return String(headers['x-goog-iap-generated-response'] ?? '').toLowerCase() === 'true';
}

/** Why IAP refused a token, from its status and the first words of its body. */
export type IapRefusal = 'expired' | 'audience' | 'email' | 'signature' | 'parse' | 'empty' | 'forbidden' | 'sign-in' | 'other';

/** Only the start of a body is read: IAP's reasons are one line, and a large page must not cost a scan. */
const READ_CHARS = 512;

export function iapRefusal(status: number, body: string): IapRefusal {
  if (status === 403) return 'forbidden';
  if (status >= 300 && status < 400) return 'sign-in';
  const said = body.slice(0, READ_CHARS).toLowerCase();
  if (said.includes('expired') || said.includes('in the future') || said.includes('not yet valid')) return 'expired';
  if (said.includes('audience')) return 'audience';
  if (said.includes('email')) return 'email';
  if (said.includes('signature')) return 'signature';
  if (said.includes('parse')) return 'parse';
  if (said.includes('empty token')) return 'empty';
  return 'other';
}

/** One line a client of the proxy (or its log) reads under IAP's refusal: what it means and what to change. */
export function explainRefusal(kind: IapRefusal, header: string, principal: string): string {
  switch (kind) {
    case 'expired':
      return "IAP found the token expired or not yet valid: the agent mints a fresh one at once; if this persists, check this machine's clock.";
    case 'audience':
      return "IAP refused the token's audience: for an ID token use the OAuth client IAP uses for the app (or one on its programmaticClients); for a signed JWT, the app's URL as https://HOST/*.";
    case 'email':
      return 'IAP refused an ID token without an email claim: mint it with include_email.';
    case 'signature':
      return 'IAP could not verify the token signature: the signing key may have been deleted; the agent mints again.';
    case 'parse':
      return `IAP did not receive a JWT in the ${header} header: something on the way changed it.`;
    case 'empty':
    case 'sign-in':
      return `IAP saw no token: something between the proxy and IAP strips the ${header} header.`;
    case 'forbidden':
      return `IAP refused ${principal}: it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (minutes).`;
    case 'other':
      return 'IAP refused the request.';
  }
}
