import type { RefreshTokenSource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import { ActionError } from '../errors.ts';
import { grantsIapScopes, shownScopes } from '../google/answer.ts';
import type { OAuthTokenEndpoint } from '../google/oauth.ts';
import { renewing, type Credential } from './credential.ts';

/**
 * A user's OAuth refresh token and the desktop client that obtained it. The refresh grant with `audience` returns an
 * ID token for that audience in one request, as Google's IAP documentation shows with curl; without it, an access
 * token: for impersonation (with cloud-platform), or for IAP itself when the sign-in granted openid and email.
 */
export function refreshTokenCredential(
  source: RefreshTokenSource,
  endpoints: Endpoints,
  oauth: OAuthTokenEndpoint,
  now: () => number = Date.now,
): Credential {
  let email: string | undefined;
  const refresh = async () => {
    const answer = await oauth.refreshAccessToken(endpoints.oauth2, source);
    email = answer.email ?? email;
    return answer;
  };
  return {
    get principal() {
      return email;
    },
    get member() {
      return `user:${email ?? 'YOUR_EMAIL'}`;
    },
    federated: false,
    accessToken: renewing(async () => (await refresh()).accessToken, now),
    idToken: (audience) => oauth.refreshIdToken(endpoints.oauth2, source, audience),
    iapAccessToken: async () => {
      const { accessToken, scope } = await refresh();
      // The access token holds what the sign-in granted, and Google says so in the answer: IAP needs openid and email.
      if (!grantsIapScopes(scope)) {
        throw new ActionError(
          `The refresh token (${source.origin}) was not granted the openid and email scopes (Google says it holds: ${shownScopes(scope)}), and IAP takes an access token only with both.`,
          'Fix: sign in again asking for them: iap-token login asks for openid email; by hand, the authorization URL needs scope=openid%20email.',
        );
      }
      return accessToken;
    },
  };
}
