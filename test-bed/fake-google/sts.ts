import { parse, verify } from './jwt.ts';
import { GITHUB_ISSUER, oauthError, parseBody, type FakeGoogle, type Reply, type Req, text } from './server.ts';

const PROVIDER_AUDIENCE =
  /^\/\/iam\.googleapis\.com\/(projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+))$/;

/** `POST /sts/v1/token`: exchanges GitHub's OIDC token for a federated access token, as Google's STS does. */
export function handleSts(fake: FakeGoogle, req: Req): Reply {
  if (req.method !== 'POST') return { status: 405, body: 'Method Not Allowed' };
  const body = parseBody(req);
  if (!body) return oauthError(400, 'invalid_request', 'Request body must be JSON or form-encoded.');
  // STS takes camelCase JSON fields and their snake_case form equivalents.
  const get = (camel: string, snake: string) => text(body[camel] ?? body[snake]);
  if (get('grantType', 'grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') {
    return oauthError(400, 'unsupported_grant_type', `Invalid value for "grant_type": ${get('grantType', 'grant_type')}`);
  }
  if (get('requestedTokenType', 'requested_token_type') !== 'urn:ietf:params:oauth:token-type:access_token') {
    return oauthError(400, 'invalid_request', 'Invalid value for "requested_token_type".');
  }
  if (get('subjectTokenType', 'subject_token_type') !== 'urn:ietf:params:oauth:token-type:jwt') {
    return oauthError(400, 'invalid_request', 'Invalid value for "subject_token_type".');
  }
  if (!get('scope', 'scope').split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) {
    return oauthError(400, 'invalid_scope', 'The scope must include https://www.googleapis.com/auth/cloud-platform.');
  }
  const match = PROVIDER_AUDIENCE.exec(get('audience', 'audience'));
  if (!match)
    return oauthError(
      400,
      'invalid_request',
      'Invalid value for "audience". This value should be the full resource name of the Identity Provider.',
    );
  const [, providerName = '', projectNumber = '', pool = ''] = match;
  const provider = fake.providers.get(providerName);
  if (!provider || provider.disabled || !/^\d+$/.test(projectNumber)) {
    return oauthError(
      400,
      'invalid_target',
      'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
    );
  }
  const jwt = parse(get('subjectToken', 'subject_token'));
  if (!jwt || !verify(jwt, fake.githubKey.publicKey)) {
    return oauthError(400, 'invalid_grant', 'Unable to verify the ID Token signature.');
  }
  const { iss, aud, exp, sub } = jwt.claims;
  if (iss !== GITHUB_ISSUER)
    return oauthError(400, 'invalid_grant', `The issuer in ID Token ${String(iss)} does not match the expected ones.`);
  const allowed = provider.allowedAudiences.length ? provider.allowedAudiences : [`https://iam.googleapis.com/${providerName}`];
  if (typeof aud !== 'string' || !allowed.includes(aud)) {
    return oauthError(400, 'invalid_grant', `The audience in ID Token [${String(aud)}] does not match the expected audience.`);
  }
  if (typeof exp !== 'number' || exp * 1000 < fake.now()) return oauthError(400, 'invalid_grant', 'ID Token expired.');
  if (provider.condition && !provider.condition(jwt.claims)) {
    return oauthError(400, 'unauthorized_client', 'The given credential is rejected by the attribute condition.');
  }
  const poolName = `projects/${projectNumber}/locations/global/workloadIdentityPools/${pool}`;
  const members = [
    `principal://iam.googleapis.com/${poolName}/subject/${String(sub)}`,
    `principalSet://iam.googleapis.com/${poolName}/attribute.repository/${String(jwt.claims['repository'])}`,
    `principalSet://iam.googleapis.com/${poolName}/*`,
  ];
  const accessToken = fake.issueAccessToken({ kind: 'federated', members });
  return {
    status: 200,
    body: {
      access_token: accessToken,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: fake.accessTokenLifetimeS,
    },
  };
}
