import type { FakeGoogle, Reply, Req } from './server.ts';

/** GitHub's `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with the runner's bearer token. */
export function handleGitHubOidc(fake: FakeGoogle, req: Req): Reply {
  if (req.method !== 'GET') return { status: 405, body: { message: 'Method Not Allowed' } };
  if (req.headers['authorization'] !== `Bearer ${fake.githubRequestToken}`) {
    return { status: 401, body: { message: 'Bad credentials' } };
  }
  if (!req.query.get('api-version')) return { status: 400, body: { message: 'api-version is required' } };
  const audience = req.query.get('audience') ?? `https://github.com/${String(fake.githubClaims['repository_owner'])}`;
  return { status: 200, body: { count: 1, value: fake.issueGitHubToken(audience) } };
}
