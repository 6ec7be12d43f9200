import type { ApiFailure } from '../errors.ts';
import type { Http } from '../http/client.ts';
import { decodeJwt } from '../jwt.ts';
import { CLOUD_PLATFORM_SCOPE, expiresAt, secretField, type AccessToken } from './answer.ts';
import { googleFailure } from './failure.ts';

/** One STS token exchange: a subject token (GitHub's, or another issuer's) for a federated access token. */
export interface Exchange {
  readonly tokenUrl: string;
  /** `//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER` */
  readonly audience: string;
  readonly subjectToken: string;
  readonly subjectTokenType: string;
  readonly workforcePoolUserProject?: string | undefined;
  /** What the provider should accept, for the remedy of an `invalid_grant`. */
  readonly expectedAudience?: string | undefined;
  readonly expectedIssuer?: string | undefined;
  /** How the user changes the subject token's audience, when they can. */
  readonly audienceInput?: string | undefined;
}

/** The Security Token Service: a subject token for a federated access token (JSON body, camelCase fields). */
export async function exchangeAtSts(http: Http, exchange: Exchange, now: () => number = Date.now): Promise<AccessToken> {
  const answer = await http.json({
    failure: googleFailure,
    what: 'STS token exchange',
    method: 'POST',
    url: exchange.tokenUrl,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      audience: exchange.audience,
      grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      scope: CLOUD_PLATFORM_SCOPE,
      subjectTokenType: exchange.subjectTokenType,
      subjectToken: exchange.subjectToken,
      ...(exchange.workforcePoolUserProject ? { options: JSON.stringify({ userProject: exchange.workforcePoolUserProject }) } : {}),
    }),
    remedy: (failure) => stsRemedy(failure, exchange),
  });
  return { token: secretField(answer, 'access_token', 'STS'), expiresAt: expiresAt(answer, now()) };
}

/** STS says little; the likely cause for each of its error codes, with the claims the provider saw. */
function stsRemedy(failure: ApiFailure, exchange: Exchange): string | undefined {
  const provider = exchange.audience.replace(/^\/\/iam\.[^/]+\//, '');
  const claims = describeClaims(exchange.subjectToken);
  switch (failure.code) {
    case 'invalid_target':
      return `Fix: the pool or provider ${provider} does not exist or is disabled. It must use the project number; check it with: gcloud iam workload-identity-pools providers describe ${provider}`;
    case 'invalid_request':
      return `Fix: STS refused the request's form; check the provider name (${provider}).`;
    case 'invalid_grant': {
      const audience = exchange.expectedAudience ?? "the subject token's audience";
      const issuer = exchange.expectedIssuer ? `its issuer is ${exchange.expectedIssuer}` : "its issuer matches the token's";
      const input = exchange.audienceInput ? `, or set ${exchange.audienceInput} to one of them` : '';
      return `Fix: the provider refused the subject token. Check that ${issuer} and that its allowed audiences include ${audience} (or are empty)${input}. ${claims}`.trim();
    }
    case 'unauthorized_client':
      return `Fix: the provider's attribute condition rejected this job. Compare the condition with the token's claims. ${claims}`.trim();
    default:
      return undefined;
  }
}

/** The claims attribute conditions usually test. They identify the job, not a secret; the token itself is never shown. */
function describeClaims(token: string): string {
  const claims = decodeJwt(token)?.claims;
  if (!claims) return '';
  const shown = ['iss', 'repository', 'repository_owner', 'ref', 'event_name', 'workflow_ref', 'aud']
    .filter((name) => typeof claims[name] === 'string')
    .map((name) => `${name}=${String(claims[name])}`);
  return shown.length ? `The token has ${shown.join(', ')}.` : '';
}
