import { ApiError } from './errors.ts';
import type { Http } from './http.ts';
import { secretField } from './credentials/credential.ts';

/**
 * The job's OIDC token from GitHub, for `audience`. The runner hands jobs with `permissions: id-token: write` a URL
 * (which already carries `?api-version=…`) and a bearer token to call it with.
 */
export async function fetchGitHubOidcToken(http: Http, requestUrl: string, requestToken: string, audience: string): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set('audience', audience);
  try {
    const answer = await http.json({
      what: 'GitHub OIDC token request',
      method: 'GET',
      url: url.toString(),
      headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' },
    });
    return secretField(answer, 'value', "GitHub's OIDC token endpoint");
  } catch (error) {
    if (error instanceof ApiError && (error.failure.status === 401 || error.failure.status === 403)) {
      error.remedy =
        "Fix: the runner's token for OIDC requests was refused. Check that the job has `permissions: id-token: write`, and that the step runs in the job that was given it (tokens do not cross jobs).";
    }
    throw error;
  }
}
