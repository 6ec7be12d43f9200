import type { Http } from '../http/client.ts';
import { secretField } from './answer.ts';
import { googleFailure } from './failure.ts';

/**
 * The job's OIDC token from GitHub, for `audience`. The runner hands jobs with `permissions: id-token: write` a URL
 * (which already carries `?api-version=…`) and a bearer token to call it with. Each call is a fresh token (they live
 * five minutes); a job may ask as often as it likes.
 */
export async function fetchGitHubOidcToken(http: Http, requestUrl: string, requestToken: string, audience: string): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set('audience', audience);
  const answer = await http.json({
    failure: googleFailure,
    what: 'GitHub OIDC token request',
    method: 'GET',
    url: url.toString(),
    headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' },
    remedy: ({ status }) =>
      status === 401 || status === 403
        ? "Fix: the runner's token for OIDC requests was refused. Check that the job has `permissions: id-token: write`, and that the step runs in the job that was given it (tokens do not cross jobs)."
        : undefined,
  });
  return secretField(answer, 'value', "GitHub's OIDC token endpoint");
}
