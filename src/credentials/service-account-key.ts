import type { ServiceAccountKeySource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import { ApiError } from '../errors.ts';
import type { Http } from '../http.ts';
import { signRs256 } from '../jwt.ts';
import { registerSecret } from '../secrets.ts';
import { CLOUD_PLATFORM_SCOPE, once, secretField, type Credential } from './credential.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google refuses assertions that live longer than an hour. */
const ASSERTION_LIFETIME_S = 3600;

/**
 * A service-account key. It gets ID tokens by the OAuth JWT-bearer grant with `target_audience` (one request, no IAM
 * role needed) and access tokens by the same grant with `scope`, both at the key's `token_uri`.
 */
export function serviceAccountKeyCredential(
  source: ServiceAccountKeySource,
  endpoints: Endpoints,
  http: Http,
  now: () => number = Date.now,
): Credential {
  const { key } = source;
  // An explicit endpoint override wins over the key file, so that a private endpoint reaches every call.
  const tokenUrl = endpoints.overridden.has('oauth2') ? `${endpoints.oauth2}/token` : (key.tokenUri ?? `${endpoints.oauth2}/token`);

  const grant = async (what: string, claim: Record<string, string>): Promise<Record<string, unknown>> => {
    const iat = Math.floor(now() / 1000);
    const assertion = signRs256(
      { iss: key.clientEmail, aud: tokenUrl, iat, exp: iat + ASSERTION_LIFETIME_S, ...claim },
      key.privateKey,
      key.privateKeyId,
    );
    registerSecret(assertion);
    try {
      return await http.json({
        what,
        method: 'POST',
        url: tokenUrl,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString(),
      });
    } catch (error) {
      if (error instanceof ApiError) error.remedy = keyGrantRemedy(error, key.clientEmail);
      throw error;
    }
  };

  return {
    principal: key.clientEmail,
    member: `serviceAccount:${key.clientEmail}`,
    federated: false,
    accessToken: once(async () => {
      const answer = await grant(`Access token for ${key.clientEmail} (OAuth JWT-bearer grant)`, { scope: CLOUD_PLATFORM_SCOPE });
      return secretField(answer, 'access_token', 'the OAuth token endpoint');
    }),
    // Google-managed and user-managed keys sign alike; IAP finds this key by its id among the account's public keys.
    signJwt: (claims) => {
      const jwt = signRs256(claims, key.privateKey, key.privateKeyId);
      registerSecret(jwt);
      return Promise.resolve(jwt);
    },
    idToken: async (audience) => {
      const answer = await grant(`ID token for ${key.clientEmail} (OAuth JWT-bearer grant)`, { target_audience: audience });
      return secretField(answer, 'id_token', 'the OAuth token endpoint');
    },
  };
}

function keyGrantRemedy(error: ApiError, email: string): string | undefined {
  const { code, message } = error.failure;
  if (code === 'invalid_grant' && /signature/i.test(message)) {
    return `Fix: the key in credentials_json was deleted, disabled or replaced. Create a new key for ${email} (gcloud iam service-accounts keys create key.json --iam-account=${email}) and update the secret.`;
  }
  if (code === 'invalid_grant' && /timeframe|short-lived|iat|exp/i.test(message)) {
    return "Fix: the runner's clock is off by more than a few minutes; sync it (NTP) on a self-hosted runner.";
  }
  if (code === 'invalid_grant' && /account not found|disabled|invalid_account/i.test(message)) {
    return `Fix: the service account ${email} does not exist or is disabled; enable it or use a key of an existing one.`;
  }
  if (code === 'invalid_client' || code === 'unauthorized_client') {
    return `Fix: the key for ${email} is not accepted; check that the service account is enabled and the key not revoked.`;
  }
  return undefined;
}
