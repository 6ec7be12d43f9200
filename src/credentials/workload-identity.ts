import type { WorkloadIdentitySource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import type { Env } from '../env.ts';
import { fetchGitHubOidcToken } from '../google/github-oidc.ts';
import { exchangeAtSts } from '../google/sts.ts';
import type { Http } from '../http/client.ts';
import { renewing, type Credential } from './credential.ts';

/**
 * Workload Identity Federation: the job's GitHub OIDC token, exchanged at STS for a federated access token. That
 * token cannot mint ID tokens itself; the caller impersonates a service account with it. Each renewal asks GitHub
 * for a fresh OIDC token (they live five minutes; a job may ask as often as it needs).
 */
export function workloadIdentityCredential(
  source: WorkloadIdentitySource,
  endpoints: Endpoints,
  http: Http,
  env: Env,
  now: () => number = Date.now,
): Credential {
  const poolResource = `projects/${source.projectNumber}/locations/global/workloadIdentityPools/${source.pool}`;
  const repository = env['GITHUB_REPOSITORY'] || 'OWNER/REPO';
  return {
    principal: undefined,
    member: `principalSet://${endpoints.iamHost}/${poolResource}/attribute.repository/${repository}`,
    federated: true,
    accessToken: renewing(async () => {
      const subjectToken = await fetchGitHubOidcToken(http, source.oidcRequestUrl, source.oidcRequestToken, source.oidcAudience);
      return exchangeAtSts(
        http,
        {
          tokenUrl: `${endpoints.sts}/token`,
          audience: `//${endpoints.iamHost}/${source.provider}`,
          subjectToken,
          subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
          expectedAudience: source.oidcAudience,
          expectedIssuer: 'https://token.actions.githubusercontent.com',
          audienceInput: 'workload_identity_audience',
        },
        now,
      );
    }, now),
  };
}
