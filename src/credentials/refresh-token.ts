import type { RefreshTokenSource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import type { OAuthTokenEndpoint } from '../google/oauth.ts';
import { renewing, type Credential } from './credential.ts';

/**
 * A user's OAuth refresh token and the desktop client that obtained it. The refresh grant with `audience` returns an
 * ID token for that audience in one request, as Google's IAP documentation shows with curl; without it, an access
 * token for impersonation.
 */
export function refreshTokenCredential(
  source: RefreshTokenSource,
  endpoints: Endpoints,
  oauth: OAuthTokenEndpoint,
  now: () => number = Date.now,
): Credential {
  let email: string | undefined;
  return {
    get principal() {
      return email;
    },
    get member() {
      return `user:${email ?? 'YOUR_EMAIL'}`;
    },
    federated: false,
    accessToken: renewing(async () => {
      const answer = await oauth.refreshAccessToken(endpoints.oauth2, source);
      email = answer.email ?? email;
      return answer.accessToken;
    }, now),
    idToken: (audience) => oauth.refreshIdToken(endpoints.oauth2, source, audience),
  };
}
