import type { ServiceAccountKeySource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import { CLOUD_PLATFORM_SCOPE, IAP_ACCESS_SCOPES } from '../google/answer.ts';
import type { OAuthTokenEndpoint } from '../google/oauth.ts';
import { signRs256 } from '../jwt.ts';
import { registerSecret } from '../secrets.ts';
import { renewing, type Credential } from './credential.ts';

/** Google refuses assertions that live longer than an hour. */
const ASSERTION_LIFETIME_S = 3600;

/**
 * A service-account key. It gets ID tokens by the OAuth JWT-bearer grant with `target_audience` (one request, no IAM
 * role needed), access tokens (cloud-platform, or IAP's openid and email) by the same grant with `scope`, all at the
 * key's `token_uri`, and signs JWTs itself.
 */
export function serviceAccountKeyCredential(
  source: ServiceAccountKeySource,
  endpoints: Endpoints,
  oauth: OAuthTokenEndpoint,
  now: () => number = Date.now,
): Credential {
  const { key } = source;
  // An explicit endpoint override wins over the key file, so that a private endpoint reaches every call.
  const tokenUrl = endpoints.overridden.has('oauth2') ? `${endpoints.oauth2}/token` : (key.tokenUri ?? `${endpoints.oauth2}/token`);
  const signer = { email: key.clientEmail, origin: source.origin };
  /** Signs `claims` with the key, masked at once; IAP and Google find the key by its id (kid). */
  const sign = (claims: Record<string, unknown>): string => {
    const jwt = signRs256(claims, key.privateKey, key.privateKeyId);
    registerSecret(jwt);
    return jwt;
  };
  const assertion = (claim: Record<string, string>): string => {
    const iat = Math.floor(now() / 1000);
    return sign({ iss: key.clientEmail, aud: tokenUrl, iat, exp: iat + ASSERTION_LIFETIME_S, ...claim });
  };

  return {
    principal: key.clientEmail,
    member: `serviceAccount:${key.clientEmail}`,
    federated: false,
    accessToken: renewing(() => oauth.keyAccessToken(tokenUrl, assertion({ scope: CLOUD_PLATFORM_SCOPE }), signer), now),
    idToken: (audience) => oauth.keyIdToken(tokenUrl, assertion({ target_audience: audience }), signer),
    iapAccessToken: () => oauth.keyAccessToken(tokenUrl, assertion({ scope: IAP_ACCESS_SCOPES.join(' ') }), signer),
    signJwt: (claims) => Promise.resolve(sign(claims)),
  };
}
