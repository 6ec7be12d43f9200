import type { AccessToken } from '../google/answer.ts';
import type { CallerIdentity } from '../google/iam-credentials.ts';

/**
 * What every credential source turns into: who it is, how to get a cloud-platform access token, and, where the
 * source can do it itself, how to get an ID token, sign a JWT or get an access token for IAP. A credential is a short composition of the Google
 * API clients in src/google/; it may be asked again and again (the agent re-mints every hour), so what it caches it
 * renews before it expires.
 */
export interface Credential extends CallerIdentity {
  /** A `cloud-platform` access token, reused until it nears its expiry. */
  accessToken(): Promise<string>;
  /** An ID token for `audience` minted by the source itself (a key: the JWT-bearer grant; a VM: its metadata server). */
  readonly idToken?: (audience: string, includeEmail: boolean) => Promise<string>;
  /** Claims signed as `principal` by the shortest route the source has (a key: locally, no request). */
  readonly signJwt?: (claims: Record<string, unknown>) => Promise<string>;
  /**
   * A fresh OAuth access token with the openid and email scopes (IAP_ACCESS_SCOPES), which IAP takes where the app
   * accepts access tokens. Never cached: each mint is a new token, as each ID token is.
   */
  readonly iapAccessToken?: () => Promise<AccessToken>;
}

/** An access token this close to its expiry is renewed rather than handed out: a request must still succeed with it. */
export const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * Fetches an access token once and hands every caller the same promise until it nears its expiry; then fetches
 * again. A failed fetch is not kept, so the next call tries afresh (a long-lived agent retries; a one-shot run has
 * already failed); while the old token still works, a failed renewal hands out the old token instead of the error.
 */
export function renewing(fetch: () => Promise<AccessToken>, now: () => number = Date.now): () => Promise<string> {
  let current: AccessToken | undefined;
  /** When `current` arrived: a token that lives less than twice the margin is renewed at half its life instead. */
  let fetchedAt = 0;
  let inFlight: Promise<AccessToken> | undefined;
  return async () => {
    const margin = current ? Math.min(RENEW_BEFORE_MS, (current.expiresAt - fetchedAt) / 2) : 0;
    if (current && current.expiresAt - now() > margin) return current.token;
    // Callers that arrive while a fetch is under way share it: a credential never asks twice at once.
    inFlight ??= fetch().finally(() => {
      inFlight = undefined;
    });
    try {
      current = await inFlight;
      fetchedAt = now();
    } catch (error) {
      if (current && current.expiresAt > now()) return current.token;
      throw error;
    }
    return current.token;
  };
}
