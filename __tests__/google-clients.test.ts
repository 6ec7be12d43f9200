import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { setMasker } from '../src/secrets.ts';
import { resolveEndpoints } from '../src/endpoints.ts';
import { ApiError, complainAsAction } from '../src/errors.ts';
import { fetchGitHubOidcToken } from '../src/google/github-oidc.ts';
import { IamCredentials, type CallerIdentity } from '../src/google/iam-credentials.ts';
import { MetadataClient, type MetadataServer } from '../src/google/metadata.ts';
import { OAuthTokenEndpoint, type RefreshTokenGrant } from '../src/google/oauth.ts';
import { exchangeAtSts } from '../src/google/sts.ts';
import { Http } from '../src/http/client.ts';
import { parseServiceAccountKey } from '../src/inputs/key-file.ts';
import { decodeJwt, signRs256 } from '../src/jwt.ts';
import { DEPLOYER, INVOKER, PROVIDER, RELAY, REPO_MEMBER, startWorld, type World } from '../test-bed/world.ts';
import { closedPort } from './e2e-helpers.ts';

const masked: string[] = [];
setMasker((value) => masked.push(value));

/** The fake's clock, frozen; the clients get another one, so that an expiry computed from either is told apart. */
const CLOCK = Date.now();
const NOW = 1_000_000;
const TOKEN_CREATOR = 'roles/iam.serviceAccountTokenCreator';

let world: World;
let http: Http;
let endpoints: ReturnType<typeof resolveEndpoints>;
/** The secrets the fake had handed out before the test's call: everything it hands out after must reach the masker. */
let before: Set<string>;

beforeAll(async () => {
  world = await startWorld();
  world.fake.now = () => CLOCK;
  endpoints = resolveEndpoints('googleapis.com', world.fake.env(), complainAsAction);
});
afterAll(async () => world.fake.stop());
beforeEach(() => {
  // By hand rather than reset(), which also returns accounts and users to a baseline: these tests add their own.
  world.fake.requests.length = 0;
  world.fake.faults.clear();
  world.fake.grants.length = 0;
  http = new Http({ sleep: async () => undefined });
  before = new Set(world.fake.secrets);
});

function expectIssuedMasked(): void {
  const issued = [...world.fake.secrets].filter((secret) => !before.has(secret));
  expect(issued.length).toBeGreaterThan(0);
  expect(issued.filter((secret) => !masked.includes(secret))).toEqual([]);
}

/** A secret the test hands the client (a caller's token): the client need not mask what it was given. */
function given(secret: string): string {
  before.add(secret);
  return secret;
}

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  const error: unknown = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

const claimsOf = (token: string) => decodeJwt(token)?.claims;

// Proves: each grant's form is what Google's token endpoint accepts, every token in an answer is masked, and a refusal
// arrives as an ApiError whose remedy (key origin, clock, sign in again, client) was set by the client itself.
describe('OAuthTokenEndpoint: the JWT-bearer grant of a key, the refresh grant, the code exchange', () => {
  const tokenUrl = () => `${endpoints.oauth2}/token`;
  const assertion = (keyFile: Record<string, string>, claim: Record<string, string>, iat = Math.floor(CLOCK / 1000)) => {
    const key = parseServiceAccountKey(keyFile, 'credentials_json', complainAsAction);
    return signRs256({ iss: key.clientEmail, aud: tokenUrl(), iat, exp: iat + 3600, ...claim }, key.privateKey, key.privateKeyId);
  };
  const signer = (email: string) => ({ email, origin: 'credentials_json' });

  test('keyIdToken: one POST with target_audience; a Google ID token for the audience with the email claim, masked', async () => {
    const oauth = new OAuthTokenEndpoint(http, () => NOW);
    const token = await oauth.keyIdToken(tokenUrl(), assertion(world.deployerKey, { target_audience: world.audience }), signer(DEPLOYER));
    expect(claimsOf(token)).toMatchObject({ aud: world.audience, email: DEPLOYER, iss: 'https://accounts.google.com' });
    expect(world.fake.requests.map((r) => [r.endpoint, r.method, r.path])).toEqual([['oauth2', 'POST', '/oauth2/token']]);
    expect(masked).toContain(token);
    expectIssuedMasked();
  });

  test('keyAccessToken: a 503 is retried; expiresAt is the injected now plus expires_in (3599 s)', async () => {
    world.fake.inject('oauth2', { status: 503 });
    const oauth = new OAuthTokenEndpoint(http, () => NOW);
    const access = await oauth.keyAccessToken(tokenUrl(), assertion(world.deployerKey, { scope: 'x' }), signer(DEPLOYER));
    expect(world.fake.count('oauth2')).toBe(2);
    expect(access.expiresAt).toBe(NOW + 3_599_000);
    expect(world.fake.accessTokens.get(access.token)?.identity).toEqual({ kind: 'serviceAccount', email: DEPLOYER, scopes: ['x'] });
    expectIssuedMasked();
  });

  test('a replaced (revoked) key: invalid_grant, and the remedy names where the key came from', async () => {
    const email = 'rotated@my-project.iam.gserviceaccount.com';
    const { keyFile: oldKey } = world.fake.addServiceAccount(email);
    world.fake.addServiceAccount(email); // a new key replaces the old one
    const oauth = new OAuthTokenEndpoint(http);
    const error = await refusal(oauth.keyIdToken(tokenUrl(), assertion(oldKey, { target_audience: world.audience }), signer(email)));
    expect(error.failure).toMatchObject({ status: 400, code: 'invalid_grant', message: 'Invalid JWT Signature.' });
    expect(error.attempts).toBe(1);
    expect(error.remedy).toBe(
      `Fix: the key in credentials_json was deleted, disabled or replaced. Create a new key for ${email} (gcloud iam service-accounts keys create key.json --iam-account=${email}) and use it in place of the old one (credentials_json).`,
    );
  });

  test('a disabled account, and a skewed clock, each get their own remedy', async () => {
    const email = 'disabled@my-project.iam.gserviceaccount.com';
    const { account, keyFile } = world.fake.addServiceAccount(email);
    account.disabled = true;
    const oauth = new OAuthTokenEndpoint(http);
    const disabled = await refusal(oauth.keyIdToken(tokenUrl(), assertion(keyFile, { target_audience: 'a' }), signer(email)));
    expect(disabled.remedy).toBe(
      `Fix: the service account ${email} does not exist or is disabled; enable it or use a key of an existing one.`,
    );
    const future = Math.floor(CLOCK / 1000) + 3600;
    const skewed = await refusal(
      oauth.keyIdToken(tokenUrl(), assertion(world.deployerKey, { target_audience: 'a' }, future), signer(DEPLOYER)),
    );
    expect(skewed.remedy).toContain("the runner's clock is off");
  });

  describe('the refresh grant', () => {
    let grant: RefreshTokenGrant;
    beforeAll(() => {
      grant = {
        ...world.fake.addUser('alice@example.com'),
        origin: 'refresh_token',
        clientOrigin: 'oauth_client_id and oauth_client_secret',
      };
    });

    test('refreshIdToken sends the audience: the ID token is for it, not for the client; both tokens masked', async () => {
      const token = await new OAuthTokenEndpoint(http).refreshIdToken(endpoints.oauth2, grant, world.audience);
      expect(claimsOf(token)).toMatchObject({ aud: world.audience, azp: grant.clientId, email: 'alice@example.com' });
      expect(world.fake.count('oauth2')).toBe(1);
      expectIssuedMasked(); // the answer's access_token too
    });

    test("refreshAccessToken: the access token with its expiry, and the user's email from the ID token", async () => {
      const { accessToken, email } = await new OAuthTokenEndpoint(http, () => NOW).refreshAccessToken(endpoints.oauth2, grant);
      expect(email).toBe('alice@example.com');
      expect(accessToken.expiresAt).toBe(NOW + 3_599_000);
      expect(world.fake.accessTokens.get(accessToken.token)?.identity).toMatchObject({ kind: 'user', email: 'alice@example.com' });
      expectIssuedMasked();
    });

    test('a revoked refresh token: invalid_grant says sign in again and names the input; a wrong secret names the client', async () => {
      const revoked = { ...world.fake.addUser('bob@example.com'), origin: 'refresh_token', clientOrigin: 'the client inputs' };
      world.fake.refreshTokens.delete(revoked.refreshToken);
      const oauth = new OAuthTokenEndpoint(http);
      const error = await refusal(oauth.refreshIdToken(endpoints.oauth2, revoked, world.audience));
      expect(error.failure).toMatchObject({ status: 400, code: 'invalid_grant', message: 'Token has been expired or revoked.' });
      expect(error.remedy).toMatch(/^Fix: the refresh token was revoked or has expired .* Sign in again .* update refresh_token\.$/);
      const badClient = await refusal(oauth.refreshAccessToken(endpoints.oauth2, { ...grant, clientSecret: 'GOCSPX-wrong' }));
      expect(badClient.failure).toMatchObject({ status: 401, code: 'invalid_client' });
      expect(badClient.remedy).toContain('check oauth_client_id and oauth_client_secret are the desktop client');
      expect(world.fake.count('oauth2')).toBe(2);
    });
  });

  test('exchangeCode: a sign-in code and its PKCE verifier for a refresh token (masked) and the email', async () => {
    const { clientId, clientSecret } = world.fake.addUser('carol@example.com');
    const verifier = randomBytes(32).toString('base64url');
    const redirectUri = 'http://127.0.0.1:1/callback';
    const signIn = new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid email',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const location =
      (await fetch(`${world.fake.url}/o/oauth2/v2/auth?${signIn.toString()}`, { redirect: 'manual' })).headers.get('location') ?? '';
    const code = new URL(location).searchParams.get('code') ?? '';
    before = new Set(world.fake.secrets); // the code is the test's to give; what the exchange hands back is not
    const exchange = { clientId, clientSecret, code, redirectUri, verifier, clientOrigin: '--client-id' };
    const answer = await new OAuthTokenEndpoint(http).exchangeCode(endpoints.oauth2, exchange);
    expect(answer.email).toBe(world.fake.signIn.email);
    expect(world.fake.refreshTokens.get(answer.refreshToken ?? '')?.clientId).toBe(clientId);
    expectIssuedMasked();
  });
});

// Proves: the STS request is accepted, the expiry comes from expires_in, and each STS error code has its own remedy.
describe('exchangeAtSts: a GitHub OIDC token for a federated access token, STS refusals explained', () => {
  const defaultAudience = `https://iam.googleapis.com/${PROVIDER}`;
  const exchange = (provider: string, subjectToken: string) => ({
    tokenUrl: `${endpoints.sts}/token`,
    audience: `//iam.googleapis.com/${provider}`,
    subjectToken,
    subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
    expectedAudience: defaultAudience,
    audienceInput: 'workload_identity_audience',
  });

  test('the federated token carries the repository member; expiresAt from expires_in', async () => {
    const access = await exchangeAtSts(http, exchange(PROVIDER, world.fake.issueGitHubToken(defaultAudience)), () => NOW);
    expect(access.expiresAt).toBe(NOW + 3_599_000);
    const identity = world.fake.accessTokens.get(access.token)?.identity;
    expect(identity?.kind === 'federated' && identity.members).toContain(REPO_MEMBER);
    expect(world.fake.count('sts')).toBe(1);
    expect(masked).toContain(access.token);
  });

  test('invalid_target: the provider does not exist, named without the //iam prefix', async () => {
    const missing = PROVIDER.replace('/providers/github', '/providers/missing');
    const error = await refusal(exchangeAtSts(http, exchange(missing, world.fake.issueGitHubToken(defaultAudience))));
    expect(error.failure.code).toBe('invalid_target');
    expect(error.remedy).toBe(
      `Fix: the pool or provider ${missing} does not exist or is disabled. It must use the project number; check it with: gcloud iam workload-identity-pools providers describe ${missing}`,
    );
  });

  test("unauthorized_client: the attribute condition, with the job's claims", async () => {
    const strict = PROVIDER.replace('/providers/github', '/providers/strict');
    world.fake.addProvider(strict, { allowedAudiences: [], condition: () => false });
    const token = world.fake.issueGitHubToken(`https://iam.googleapis.com/${strict}`);
    const error = await refusal(exchangeAtSts(http, exchange(strict, token)));
    expect(error.failure.code).toBe('unauthorized_client');
    expect(error.remedy).toContain("the provider's attribute condition rejected this job");
    expect(error.remedy).toContain('repository=octo-org/deploy-app');
  });

  test('invalid_grant: the audience the provider expects, and how to change it', async () => {
    const error = await refusal(exchangeAtSts(http, exchange(PROVIDER, world.fake.issueGitHubToken('https://wrong.example'))));
    expect(error.failure.code).toBe('invalid_grant');
    expect(error.remedy).toContain(`allowed audiences include ${defaultAudience}`);
    expect(error.remedy).toContain('set workload_identity_audience to one of them');
    expect(error.remedy).toContain('aud=https://wrong.example');
  });
});

// Proves: the three IAM methods reach the right account (through delegates) and a 403/401 remedy names who needs which role.
describe('IamCredentials: generateIdToken, generateAccessToken, signJwt; a 403 names the member and the role', () => {
  const caller: CallerIdentity = { principal: DEPLOYER, member: `serviceAccount:${DEPLOYER}`, federated: false };
  const token = () => given(world.fake.issueAccessToken({ kind: 'serviceAccount', email: DEPLOYER }));
  const iam = () => new IamCredentials(http, endpoints.iamcredentials, () => NOW);
  const direct = { serviceAccount: INVOKER, delegates: [] };
  const grantLine = (target: string, member: string, role: string) =>
    `gcloud iam service-accounts add-iam-policy-binding ${target} --member='${member}' --role=${role}`;

  test('generateIdToken: the target is in the path with the "-" project; includeEmail is honoured', async () => {
    world.fake.grant(INVOKER, caller.member, 'roles/iam.serviceAccountOpenIdTokenCreator');
    const withEmail = await iam().generateIdToken(caller, token(), direct, world.audience, true);
    const without = await iam().generateIdToken(caller, token(), direct, 'other-aud', false);
    expect(claimsOf(withEmail)).toMatchObject({ aud: world.audience, email: INVOKER });
    expect(claimsOf(without)).toMatchObject({ aud: 'other-aud' });
    expect(claimsOf(without)).not.toHaveProperty('email');
    expect(world.fake.requests.map((r) => r.path)).toEqual(
      Array(2).fill(`/iamcredentials/v1/projects/-/serviceAccounts/${INVOKER}:generateIdToken`),
    );
    expectIssuedMasked();
  });

  test("generateAccessToken: expiresAt is Google's expireTime, not the client's clock", async () => {
    world.fake.grant(INVOKER, caller.member, TOKEN_CREATOR);
    const access = await iam().generateAccessToken(caller, token(), direct);
    expect(access.expiresAt).toBe(CLOCK + 3_600_000);
    expect(world.fake.accessTokens.get(access.token)?.identity).toEqual({
      kind: 'serviceAccount',
      email: INVOKER,
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    });
    expect(masked).toContain(access.token);
  });

  test("signJwt through a delegate: the claims signed by the target's key", async () => {
    world.fake.grant(RELAY, caller.member, TOKEN_CREATOR);
    world.fake.grant(INVOKER, `serviceAccount:${RELAY}`, TOKEN_CREATOR);
    const claims = { iss: INVOKER, sub: INVOKER, aud: world.fake.appUrl, iat: 1, exp: 2 };
    const jwt = await iam().signJwt(caller, token(), { serviceAccount: INVOKER, delegates: [RELAY] }, claims);
    expect(decodeJwt(jwt)).toEqual({
      header: { alg: 'RS256', kid: world.fake.serviceAccounts.get(INVOKER)?.key.kid, typ: 'JWT' },
      claims,
    });
    expect(world.fake.requests.map((r) => r.path)).toEqual([`/iamcredentials/v1/projects/-/serviceAccounts/${INVOKER}:signJwt`]);
    expectIssuedMasked();
  });

  test('403 on generateIdToken: the gcloud line grants the caller the OpenID token creator role', async () => {
    const error = await refusal(iam().generateIdToken(caller, token(), direct, 'aud', true));
    expect(error.failure).toMatchObject({ status: 403, reason: 'IAM_PERMISSION_DENIED', permission: 'iam.serviceAccounts.getOpenIdToken' });
    expect(error.remedy).toContain(`Fix: the caller serviceAccount:${DEPLOYER} lacks iam.serviceAccounts.getOpenIdToken on ${INVOKER}`);
    expect(error.remedy).toContain(grantLine(INVOKER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountOpenIdTokenCreator'));
  });

  test('a federated caller: 403 → workloadIdentityUser for the repository member; signJwt → 401, reported as our bug', async () => {
    const federated: CallerIdentity = { principal: undefined, member: REPO_MEMBER, federated: true };
    const federatedToken = world.fake.issueAccessToken({ kind: 'federated', members: [REPO_MEMBER] });
    const denied = await refusal(iam().generateAccessToken(federated, federatedToken, direct));
    expect(denied.remedy).toContain(grantLine(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser'));
    const unsupported = await refusal(iam().signJwt(federated, federatedToken, direct, { a: 1 }));
    expect(unsupported.failure).toMatchObject({ status: 401, reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED' });
    expect(unsupported.remedy).toContain('a federated token cannot call this method');
  });

  test('403 along a delegation chain: one gcloud line per hop', async () => {
    const error = await refusal(iam().signJwt(caller, token(), { serviceAccount: INVOKER, delegates: [RELAY] }, { a: 1 }));
    expect(error.remedy).toContain('a hop in the delegation chain lacks iam.serviceAccounts.implicitDelegation');
    expect(error.remedy).toContain(grantLine(RELAY, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR));
    expect(error.remedy).toContain(grantLine(INVOKER, `serviceAccount:${RELAY}`, TOKEN_CREATOR));
  });
});

// Proves: the metadata client asks with format=full, reads expiry and email, and says the front door's words when no server answers.
describe("MetadataClient: the VM's identity, token and email; a missing server is explained in the front door's words", () => {
  const server = (host: string): MetadataServer => ({
    host,
    origin: `the metadata server at ${host}`,
    unreachable: 'No metadata server answered: give a credential instead.',
    otherwise: 'or give a credential.',
  });
  const client = (host = world.fake.metadataHost) => new MetadataClient(http, server(host), () => NOW);
  beforeEach(() => {
    world.fake.metadata.serviceAccount = DEPLOYER;
  });

  test('idToken: one GET with the audience and format=full, so the token has the email claim', async () => {
    const audience = 'https://app.example/x?y=1';
    const token = await client().idToken(audience);
    expect(claimsOf(token)).toMatchObject({ aud: audience, email: DEPLOYER });
    expect(world.fake.requests.map((r) => [r.path.split('/').pop(), r.query.get('audience'), r.query.get('format')])).toEqual([
      ['identity', audience, 'full'],
    ]);
    expectIssuedMasked();
  });

  test('accessToken with expiresAt from expires_in, and email', async () => {
    const access = await client().accessToken();
    expect(access.expiresAt).toBe(NOW + 3_599_000);
    expect(masked).toContain(access.token);
    expect(await client().email()).toBe(DEPLOYER);
    expect(world.fake.count('metadata')).toBe(2);
  });

  test('no service account attached: 404, with its remedy', async () => {
    world.fake.metadata.serviceAccount = undefined;
    const error = await refusal(client().idToken('aud'));
    expect(error.failure.status).toBe(404);
    expect(error.remedy).toContain('no service account is attached to the VM');
  });

  test('nothing listening: three quick attempts, then the unreachable text as the remedy', async () => {
    const error = await refusal(client(`127.0.0.1:${await closedPort()}`).idToken('aud'));
    expect(error.failure).toMatchObject({ status: 0, code: 'ECONNREFUSED' });
    expect(error.attempts).toBe(3);
    expect(error.remedy).toBe('No metadata server answered: give a credential instead.');
  });
});

// Proves: the audience joins the runner's URL (api-version kept), the token is masked, and a 401 asks for id-token: write.
describe("fetchGitHubOidcToken: the job's OIDC token for an audience", () => {
  const requestUrl = () => world.fake.env()['ACTIONS_ID_TOKEN_REQUEST_URL'] ?? '';

  test('the audience is added to the query next to api-version; the token is masked', async () => {
    const audience = `https://iam.googleapis.com/${PROVIDER}`;
    const token = await fetchGitHubOidcToken(http, requestUrl(), world.fake.githubRequestToken, audience);
    expect(claimsOf(token)).toMatchObject({ aud: audience, iss: 'https://token.actions.githubusercontent.com' });
    expect(world.fake.requests.map((r) => [r.query.get('api-version'), r.query.get('audience')])).toEqual([['2.0', audience]]);
    expectIssuedMasked();
  });

  test('a refused request token: 401, and the remedy asks for id-token: write', async () => {
    const error = await refusal(fetchGitHubOidcToken(http, requestUrl(), 'ghs_not-the-runners-token', 'aud'));
    expect(error.failure.status).toBe(401);
    expect(error.attempts).toBe(1);
    expect(error.remedy).toContain('`permissions: id-token: write`');
  });
});
