import type { RefreshTokenSource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import { ApiError } from '../errors.ts';
import type { Http } from '../http.ts';
import { decodeJwt } from '../jwt.ts';
import { once, secretField, type Credential } from './credential.ts';

/**
 * A user's OAuth refresh token and the desktop client that obtained it. The refresh grant with `audience` returns an
 * ID token for that audience in one request, as Google's IAP documentation shows with curl; without it, an access
 * token for impersonation.
 */
export function refreshTokenCredential(source: RefreshTokenSource, endpoints: Endpoints, http: Http): Credential {
  let email: string | undefined;
  const grant = async (what: string, extra: Record<string, string>) => {
    try {
      return await http.json({
        what,
        method: 'POST',
        url: `${endpoints.oauth2}/token`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: source.clientId,
          client_secret: source.clientSecret,
          refresh_token: source.refreshToken,
          ...extra,
        }).toString(),
      });
    } catch (error) {
      if (error instanceof ApiError) error.remedy = refreshRemedy(error, source);
      throw error;
    }
  };
  return {
    get principal() {
      return email;
    },
    get member() {
      return `user:${email ?? 'YOUR_EMAIL'}`;
    },
    federated: false,
    accessToken: once(async () => {
      const answer = await grant('Access token from the refresh token (OAuth refresh grant)', {});
      // With the openid scope the answer carries an ID token too: it names the user, for remedies.
      if (typeof answer['id_token'] === 'string') {
        const claims = decodeJwt(secretField(answer, 'id_token', 'The OAuth token endpoint'))?.claims;
        if (typeof claims?.['email'] === 'string') email = claims['email'];
      }
      return secretField(answer, 'access_token', 'The OAuth token endpoint');
    }),
    idToken: async (audience) => {
      const answer = await grant('ID token from the refresh token (OAuth refresh grant)', { audience });
      if (typeof answer['access_token'] === 'string') secretField(answer, 'access_token', 'The OAuth token endpoint');
      return secretField(answer, 'id_token', 'The OAuth token endpoint (was the refresh token granted the openid scope?)');
    },
  };
}

function refreshRemedy(error: ApiError, source: RefreshTokenSource): string | undefined {
  const { code } = error.failure;
  if (code === 'invalid_grant') {
    return `Fix: the refresh token was revoked or has expired (refresh tokens of OAuth apps in "Testing" status expire after 7 days; a password change revokes them). Sign in again to get a new one and update ${source.origin}.`;
  }
  if (code === 'invalid_client' || code === 'unauthorized_client') {
    return 'Fix: the OAuth client was not recognised: check oauth_client_id and oauth_client_secret are the desktop client that issued the refresh token.';
  }
  if (code === 'invalid_audience' || code === 'invalid_request') {
    return "Fix: Google refused the audience: it must be the OAuth client ID IAP uses for the app, in the same project as the desktop client, or a client on the app's programmaticClients allowlist.";
  }
  return undefined;
}
