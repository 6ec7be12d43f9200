import type { WorkloadIdentitySource } from '../config.ts';
import type { Env, Endpoints } from '../endpoints.ts';
import { ApiError } from '../errors.ts';
import { fetchGitHubOidcToken } from '../github-oidc.ts';
import type { Http } from '../http.ts';
import { decodeJwt } from '../jwt.ts';
import { CLOUD_PLATFORM_SCOPE, once, secretField, type Credential } from './credential.ts';

/**
 * Workload Identity Federation: the job's GitHub OIDC token, exchanged at STS for a federated access token. That
 * token cannot mint ID tokens itself; the caller impersonates a service account with it.
 */
export function workloadIdentityCredential(
  source: WorkloadIdentitySource,
  endpoints: Endpoints,
  http: Http,
  env: Env,
): Credential {
  const poolResource = `projects/${source.projectNumber}/locations/global/workloadIdentityPools/${source.pool}`;
  const repository = env['GITHUB_REPOSITORY'] || 'OWNER/REPO';
  return {
    principal: undefined,
    member: `principalSet://${endpoints.iamHost}/${poolResource}/attribute.repository/${repository}`,
    federated: true,
    accessToken: once(async () => {
      const subjectToken = await fetchGitHubOidcToken(http, source.oidcRequestUrl, source.oidcRequestToken, source.oidcAudience);
      try {
        const answer = await http.json({
          what: 'STS token exchange',
          method: 'POST',
          url: `${endpoints.sts}/token`,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({
            audience: `//${endpoints.iamHost}/${source.provider}`,
            grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
            requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
            scope: CLOUD_PLATFORM_SCOPE,
            subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
            subjectToken,
          }),
        });
        return secretField(answer, 'access_token', 'STS');
      } catch (error) {
        if (error instanceof ApiError) error.remedy = stsRemedy(error, source, subjectToken);
        throw error;
      }
    }),
  };
}

/** STS says little; the likely cause for each of its error codes, with the claims the provider saw. */
function stsRemedy(error: ApiError, source: WorkloadIdentitySource, subjectToken: string): string | undefined {
  const claims = describeClaims(subjectToken);
  switch (error.failure.code) {
    case 'invalid_target':
      return `Fix: the pool or provider in workload_identity_provider does not exist or is disabled. Check ${source.provider} (it must use the project number) with: gcloud iam workload-identity-pools providers describe ${source.provider}`;
    case 'invalid_request':
      return `Fix: STS refused the request's form; check workload_identity_provider (${source.provider}).`;
    case 'invalid_grant':
      return `Fix: the provider refused GitHub's token. Its issuer must be https://token.actions.githubusercontent.com and its allowed audiences must include ${source.oidcAudience} (or be empty). ${claims}`;
    case 'unauthorized_client':
      return `Fix: the provider's attribute condition rejected this job. Compare the condition with the job's claims. ${claims}`;
    default:
      return undefined;
  }
}

/** The claims attribute conditions usually test. They identify the job, not a secret; the token itself is never shown. */
function describeClaims(token: string): string {
  const claims = decodeJwt(token)?.claims;
  if (!claims) return '';
  const shown = ['repository', 'repository_owner', 'ref', 'event_name', 'workflow_ref', 'aud']
    .filter((name) => typeof claims[name] === 'string')
    .map((name) => `${name}=${String(claims[name])}`);
  return shown.length ? `This job's token has ${shown.join(', ')}.` : '';
}
