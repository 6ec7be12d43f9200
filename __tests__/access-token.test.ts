import { beforeEach, describe, expect, test } from '@jest/globals';
import { DEPLOYER, expectFailure, expectSuccess, INVOKER, PROVIDER, RELAY, REPO_MEMBER, TOKEN_CREATOR, useWorld } from './e2e-helpers.ts';
import { runInProcess } from './in-process.ts';

// token_type access_token (issue 23): an OAuth access token with the openid and email scopes, from every source that
// can hold them, against the fake's IAP, which takes one only with both scopes, and per app not at all. The action's
// run() in this process; e2e-auto.test.ts runs the bundle for auto's fallback and the agent that keeps it fresh.

const world = useWorld();
beforeEach(() => {
  world.fake.grants.length = 0;
});

const key = () => JSON.stringify(world.deployerKey);
const USER = 'carol@example.com';
const VM = 'runner-vm@my-project.iam.gserviceaccount.com';
/** No Cloud Run in this environment, whatever the machine running the tests has. */
const NOT_SCOPING = { K_SERVICE: '', CLOUD_RUN_JOB: '' };

/** Where the last request that IAP let through went. */
const lastAppPath = () => world.fake.appRequests.at(-1)?.path;

function expectAccessToken(outputs: Record<string, string>, principal: string): void {
  const token = outputs['token'] ?? '';
  expect(token).toMatch(/^ya29\./);
  expect(token.split('.').length).toBeLessThan(3);
  expect(outputs['token_type']).toBe('access_token');
  expect(outputs['principal']).toBe(principal);
}

describe('token_type access_token, from every source that can hold the scopes', () => {
  test('a key: the JWT-bearer grant with both scopes; IAP lets it through; published like the others', async () => {
    const result = await runInProcess(world, { credentials_json: key(), token_type: 'access_token', smoke_test_urls: world.fake.appUrl });
    expectSuccess(result);
    expectAccessToken(result.outputs, DEPLOYER);
    expect(Date.parse(result.outputs['expires_at'] ?? '')).toBeGreaterThan(Date.now());
    expect(result.exportedEnv).toEqual({ IAP_TOKEN: result.outputs['token'] });
    const log = result.visibleLog.join('\n');
    expect(log).toContain(`Minted an access token for ${DEPLOYER}, scopes openid and email (no audience), expires`);
    expect(log).toContain(`✓ GET ${world.fake.appUrl}: 200 from the app`);
    // One grant, the smoke gate's probe without the token (an access token goes only where IAP answers), the test.
    expect([world.fake.count('oauth2'), world.fake.count('iap')]).toEqual([1, 2]);
    expect(lastAppPath()).toBe('/app');
    expect(result.summary).toContain('<td>access token</td><td>none &#40;scopes openid and email&#41;</td>');
  });

  test('service_account through delegates: IAM generateAccessToken with both scopes, along the chain', async () => {
    world.fake.grant(RELAY, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
    world.fake.grant(INVOKER, `serviceAccount:${RELAY}`, TOKEN_CREATOR);
    const result = await runInProcess(world, {
      credentials_json: key(),
      service_account: INVOKER,
      delegates: RELAY,
      token_type: 'access_token',
      smoke_test_urls: world.fake.appUrl,
    });
    expectSuccess(result);
    expectAccessToken(result.outputs, INVOKER);
    const iam = world.fake.requests.filter((request) => request.endpoint === 'iamcredentials').map((request) => request.path);
    expect(iam).toEqual([`/iamcredentials/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`]);
  });

  test('Workload Identity Federation as a service account: the federated token asks IAM for it', async () => {
    world.fake.addProvider(PROVIDER);
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    const result = await runInProcess(world, {
      workload_identity_provider: PROVIDER,
      service_account: INVOKER,
      token_type: 'access_token',
      smoke_test_urls: world.fake.appUrl,
    });
    expectSuccess(result);
    expectAccessToken(result.outputs, INVOKER);
  });

  test("a user's refresh token from a sign-in that granted openid and email: the refresh grant's own access token", async () => {
    const user = world.fake.addUser(USER);
    world.fake.allowRun(`user:${USER}`);
    const result = await runInProcess(world, {
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
      token_type: 'access_token',
      // The app on Google's managed client, which no ID token of the user's can reach: an access token needs no client.
      smoke_test_urls: world.fake.runUrl,
    });
    expectSuccess(result);
    expectAccessToken(result.outputs, USER);
    expect(world.fake.count('oauth2')).toBe(1);
  });

  test('a refresh token granted openid only: one error that says which scopes it holds and how to get both', async () => {
    const user = world.fake.addUser(USER, ['openid']);
    const result = await runInProcess(world, {
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
      token_type: 'access_token',
    });
    const error = expectFailure(result);
    expect(error).toContain('The refresh token (refresh_token) was not granted the openid and email scopes (Google says it holds: openid)');
    expect(error).toContain('iap-token login asks for openid email');
  });

  test('a metadata server that honours ?scopes= (Cloud Run): the two scopes asked for, and the account named', async () => {
    world.fake.addServiceAccount(VM);
    world.fake.allow(`serviceAccount:${VM}`);
    world.fake.metadata.serviceAccount = VM;
    world.fake.metadata.honoursScopes = true;
    const result = await runInProcess(
      world,
      { token_type: 'access_token', smoke_test_urls: world.fake.appUrl },
      { env: { ...NOT_SCOPING, K_SERVICE: 'runner', GCE_METADATA_HOST: world.fake.metadataHost } },
    );
    expectSuccess(result);
    expectAccessToken(result.outputs, VM);
    const token = world.fake.requests.find((request) => request.path.endsWith('/default/token'));
    expect(token?.query.get('scopes')).toBe('openid,https://www.googleapis.com/auth/userinfo.email');
  });

  test("a Compute Engine VM's metadata server, which ignores ?scopes=: an input error that says why and what would", async () => {
    const result = await runInProcess(world, { token_type: 'access_token' }, { env: { ...NOT_SCOPING, GCE_METADATA_HOST: '' } });
    const error = expectFailure(result);
    expect(error).toContain('Input token_type: access_token: the metadata server is, by this machine');
    expect(error).toContain("ignores the scopes asked for and gives the VM's own access scopes");
    expect(error).toContain('set service_account: SA_EMAIL');
    expect(world.fake.count()).toBe(0);
  });

  test('a metadata server named on purpose that still ignores ?scopes=: IAP refuses the scopes, and the fix says so', async () => {
    world.fake.addServiceAccount(VM);
    world.fake.allow(`serviceAccount:${VM}`);
    world.fake.metadata.serviceAccount = VM;
    const env = { ...NOT_SCOPING, GCE_METADATA_HOST: world.fake.metadataHost };
    const result = await runInProcess(world, { token_type: 'access_token', smoke_test_urls: world.fake.appUrl }, { env });
    const error = expectFailure(result);
    expect(error).toContain(
      'IAP refused the token with 401: "Invalid IAP credentials: Access token lacks the required openid and email scopes"',
    );
    expect(error).toContain('Fix: the access token lacks the openid and email scopes');
    expect(error).toContain('a metadata server must honour ?scopes=');
  });

  test('an app whose IAP takes no access tokens: "this app does not take access tokens", and the kinds that would', async () => {
    world.fake.iap.acceptsAccessTokens = false;
    const result = await runInProcess(world, { credentials_json: key(), token_type: 'access_token', smoke_test_urls: world.fake.appUrl });
    const error = expectFailure(result);
    expect(error).toContain('"Invalid IAP credentials: Unable to parse JWT"');
    expect(error).toContain('Fix: this app does not take access tokens');
    expect(error).toContain('Use a signed JWT or an ID token instead: token_type signed_jwt or id_token');
  });

  test('an audience with access_token: one input error, no request', async () => {
    const error = expectFailure(
      await runInProcess(world, { credentials_json: key(), token_type: 'access_token', audience: world.audience }),
    );
    expect(error).toBe('Input audience: does not go with token_type access_token: an access token has no audience. Leave it out.');
    expect(world.fake.count()).toBe(0);
  });

  test('the token_type output names every kind', async () => {
    const idToken = await runInProcess(world, { credentials_json: key(), audience: world.audience });
    const signed = await runInProcess(world, { credentials_json: key(), app_url: world.fake.appUrl });
    expect([idToken.outputs['token_type'], signed.outputs['token_type']]).toEqual(['id_token', 'signed_jwt']);
  });
});

describe("token_type auto's last way: an access token, tried once", () => {
  const userInputs = (user: { refreshToken: string; clientId: string; clientSecret: string }) => ({
    refresh_token: user.refreshToken,
    oauth_client_id: user.clientId,
    oauth_client_secret: user.clientSecret,
  });

  test("a user's refresh token for an app on Google's managed client: the ID token cannot be had, the access token passes", async () => {
    const user = world.fake.addUser(USER);
    world.fake.allowRun(`user:${USER}`);
    const result = await runInProcess(world, { ...userInputs(user), app_url: world.fake.runUrl });
    expectSuccess(result);
    expectAccessToken(result.outputs, USER);
    const log = result.visibleLog.join('\n');
    expect(log).toContain(
      `Token: token_type auto: access_token, because Google will not mint an ID token for the OAuth client IAP's sign-in redirect names (${world.fake.runIap.clientId}: most likely Google's managed client); IAP at ${world.fake.runUrl} took an access token (it answered 200).`,
    );
    // The probe without a token (to find the client), then the access token once: nothing else went to the app.
    expect(world.fake.count('iap')).toBe(2);
  });

  test('the same where the app takes no access tokens: the ID token error stands, with what the access token met', async () => {
    const user = world.fake.addUser(USER);
    world.fake.allowRun(`user:${USER}`);
    world.fake.runIap.acceptsAccessTokens = false;
    const error = expectFailure(await runInProcess(world, { ...userInputs(user), app_url: world.fake.runUrl }));
    expect(error).toContain('HTTP 400 invalid_audience');
    expect(error).toContain(`The audience was found from IAP's sign-in redirect at ${world.fake.runUrl}`);
    expect(error).toContain(`An access token was tried once too, at ${world.fake.runUrl}: this app does not take access tokens`);
  });

  test('an ID token IAP refuses for its audience in the smoke tests: the smoke tests run once more with an access token', async () => {
    const user = world.fake.addUser(USER);
    world.fake.allow(`user:${USER}`);
    // The user's own desktop client: Google mints for it, and IAP (custom client, no allowlist) refuses it.
    const result = await runInProcess(world, { ...userInputs(user), audience: user.clientId, smoke_test_urls: world.fake.appUrl });
    expectSuccess(result);
    expectAccessToken(result.outputs, USER);
    const log = result.visibleLog.join('\n');
    expect(log).toContain(`✗ GET ${world.fake.appUrl}: 401 from IAP`);
    expect(log).toContain('smoke testing an access token once instead');
    expect(log).toContain(
      'Token: token_type auto: access_token, because IAP refused the ID token for its audience, and every smoke-tested URL passed with an access token.',
    );
    expect(JSON.parse(result.outputs['smoke_test_results'] ?? '[]')).toEqual([expect.objectContaining({ ok: true, status: 200 })]);
  });

  test('the smoke tests fail again with the access token: the first failure stands, with what the access token met', async () => {
    const user = world.fake.addUser(USER);
    world.fake.allow(`user:${USER}`);
    world.fake.iap.acceptsAccessTokens = false;
    const result = await runInProcess(world, { ...userInputs(user), audience: user.clientId, smoke_test_urls: world.fake.appUrl });
    const error = expectFailure(result);
    expect(error).toContain('Smoke test failed for 1 of 1 URL(s)');
    expect(error).toContain('Invalid JWT audience');
    expect(error).toContain(
      `An access token was smoke-tested once too, and failed:\nGET ${world.fake.appUrl}: this app does not take access tokens`,
    );
    // The summary shows the ID token's run, the one the step's error begins with.
    expect(result.summary).toContain('<td>ID token</td>');
  });

  test('a POST that got through with the ID token is not sent again: no fallback where a second run would repeat it', async () => {
    const user = world.fake.addUser(USER);
    world.fake.allow(`user:${USER}`);
    world.fake.allowRun(`user:${USER}`);
    world.fake.runIap.programmaticClients.push(user.clientId);
    const result = await runInProcess(world, {
      ...userInputs(user),
      audience: user.clientId,
      smoke_test_urls: `POST ${world.fake.runUrl}/api\nGET ${world.fake.appUrl}`,
    });
    expect(expectFailure(result)).toContain('Invalid JWT audience');
    expect(world.fake.appRequests.filter((request) => request.method === 'POST')).toHaveLength(1);
    expect(result.visibleLog.join('\n')).not.toContain('smoke testing an access token');
  });

  test('token_type id_token named by the user: no fallback, the audience refusal is the answer', async () => {
    const user = world.fake.addUser(USER);
    world.fake.allow(`user:${USER}`);
    const error = expectFailure(
      await runInProcess(world, {
        ...userInputs(user),
        token_type: 'id_token',
        audience: user.clientId,
        smoke_test_urls: world.fake.appUrl,
      }),
    );
    expect(error).toContain('Invalid JWT audience');
    expect(error).not.toContain('access token');
    expect(world.fake.count('oauth2')).toBe(1);
  });

  test('a caller that can sign still gets a signed JWT: the access token is only the last way', async () => {
    const result = await runInProcess(world, { credentials_json: key(), app_url: world.fake.runUrl });
    expectSuccess(result);
    expect(result.outputs['token_type']).toBe('signed_jwt');
  });
});
