import { beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLOUD_PLATFORM,
  TOKEN_CREATOR,
  claimsOf,
  DEPLOYER,
  expectAllMasked,
  expectFailure,
  expectSuccess,
  INVOKER,
  PROVIDER,
  REPO_MEMBER,
  run,
  useWorld,
} from './e2e-helpers.ts';

let appAll: string;
const world = useWorld((w) => {
  appAll = `${w.fake.appUrl}/*`;
});
beforeEach(() => {
  world.fake.grants.length = 0;
  world.fake.metadata.serviceAccount = undefined;
});

const key = () => JSON.stringify(world.deployerKey);
const headerOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

async function callAppAt(path: string, token: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${world.fake.appUrl}${path}`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
  return { status: response.status, body: await response.text() };
}

describe('a key without service_account signs locally', () => {
  test("no request; iss = sub = the key's account, kid = the key id; IAP accepts it under the wildcard", async () => {
    const result = await run(world, { audience: appAll, token_type: 'signed_jwt', credentials_json: key() });
    expectSuccess(result);
    expect(world.fake.count()).toBe(0);
    const token = result.outputs['token'] ?? '';
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ iss: DEPLOYER, sub: DEPLOYER, aud: appAll });
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(3600);
    expect(headerOf(token)).toEqual({ alg: 'RS256', typ: 'JWT', kid: world.deployerKey['private_key_id'] });
    expect(result.outputs['principal']).toBe(DEPLOYER);
    expect(result.outputs['expires_at']).toBe(new Date((claims['exp'] as number) * 1000).toISOString().replace('.000Z', 'Z'));
    expect(result.summary).toContain('signed JWT');
    expect(result.visibleLog.join('\n')).toContain(`Minted a signed JWT for ${DEPLOYER}, audience ${appAll}`);
    expectAllMasked(result);
    expect(await callAppAt('/deep/path', token)).toMatchObject({ status: 200 });
  });

  test('an exact URL audience covers that URL only; lifetime sets exp', async () => {
    const exact = `${world.fake.appUrl}/healthz`;
    const result = await run(world, { audience: exact, token_type: 'signed_jwt', credentials_json: key(), lifetime: '600' });
    expectSuccess(result);
    const token = result.outputs['token'] ?? '';
    const claims = claimsOf(token);
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(600);
    expect(await callAppAt('/healthz', token)).toMatchObject({ status: 200 });
    expect(await callAppAt('/other', token)).toEqual({
      status: 401,
      body: 'Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.',
    });
  });
});

describe('every other source signs through IAM signJwt', () => {
  test('key + service_account: access token, then signJwt on the account', async () => {
    const denied = expectFailure(
      await run(world, { audience: appAll, token_type: 'signed_jwt', credentials_json: key(), service_account: INVOKER }),
    );
    expect(denied).toContain(`IAM Credentials signJwt for ${INVOKER} failed: HTTP 403`);
    expect(denied).toContain(`lacks iam.serviceAccounts.signJwt on ${INVOKER}`);
    expect(denied).toContain(`--member='serviceAccount:${DEPLOYER}' --role=${TOKEN_CREATOR}`);
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
    world.fake.forgetRequests();
    const result = await run(world, { audience: appAll, token_type: 'signed_jwt', credentials_json: key(), service_account: INVOKER });
    expectSuccess(result);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ iss: INVOKER, sub: INVOKER });
    expect(world.fake.requests.map((r) => r.path.split(':').pop())).toEqual(['/oauth2/token', 'signJwt']);
    expect(await callAppAt('/', result.outputs['token'] ?? '')).toMatchObject({ status: 200 });
  });

  test("WIF: the federated token becomes the account's own (generateAccessToken), which signs; the self-grant is explained", async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    const inputs = { audience: appAll, token_type: 'signed_jwt', workload_identity_provider: PROVIDER, service_account: INVOKER };
    const denied = expectFailure(await run(world, inputs));
    expect(denied).toContain(`${INVOKER} lacks iam.serviceAccounts.signJwt on itself`);
    expect(denied).toContain(`add-iam-policy-binding ${INVOKER} --member='serviceAccount:${INVOKER}' --role=${TOKEN_CREATOR}`);
    world.fake.grant(INVOKER, `serviceAccount:${INVOKER}`, TOKEN_CREATOR);
    world.fake.forgetRequests();
    const result = await run(world, inputs);
    expectSuccess(result);
    expect(world.fake.requests.map((r) => r.path.split(':').pop())).toEqual([
      '/github/oidc',
      '/sts/v1/token',
      'generateAccessToken',
      'signJwt',
    ]);
    expectAllMasked(result);
    expect(await callAppAt('/x', result.outputs['token'] ?? '')).toMatchObject({ status: 200 });
  });

  test("the metadata server: signs as the VM's own account", async () => {
    world.fake.metadata.serviceAccount = DEPLOYER;
    world.fake.grant(DEPLOYER, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
    const result = await run(
      world,
      { audience: appAll, token_type: 'signed_jwt' },
      { env: { GCE_METADATA_HOST: world.fake.metadataHost } },
    );
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(DEPLOYER);
    expect(world.fake.requests.map((r) => r.path.split('/').pop()?.split(':').pop()).sort()).toEqual(['email', 'signJwt', 'token']);
  });

  test('a refresh token needs service_account, then signs through it', async () => {
    const user = world.fake.addUser('alice@example.com', ['openid', 'email', CLOUD_PLATFORM]);
    const inputs = {
      audience: appAll,
      token_type: 'signed_jwt',
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    };
    const missing = expectFailure(await run(world, inputs));
    expect(missing).toContain('Input service_account: is required for token_type signed_jwt with a refresh token');
    expect(world.fake.count()).toBe(0);
    world.fake.grant(INVOKER, 'user:alice@example.com', TOKEN_CREATOR);
    const result = await run(world, { ...inputs, service_account: INVOKER });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect(world.fake.count()).toBe(2);
  });

  test('an external_account file with an impersonation URL, and an impersonated_service_account file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iap-token-sjwt-'));
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    world.fake.grant(INVOKER, `serviceAccount:${INVOKER}`, TOKEN_CREATOR);
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
    const tokenPath = join(dir, 'subject');
    writeFileSync(tokenPath, world.fake.issueGitHubToken(`https://iam.googleapis.com/${PROVIDER}`));
    const external = {
      type: 'external_account',
      audience: `//iam.googleapis.com/${PROVIDER}`,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${world.fake.url}/sts/v1/token`,
      service_account_impersonation_url: `${world.fake.url}/iamcredentials/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
      credential_source: { file: tokenPath },
    };
    const fromExternal = await run(world, { audience: appAll, token_type: 'signed_jwt', credentials_json: JSON.stringify(external) });
    expectSuccess(fromExternal);
    expect(world.fake.requests.map((r) => r.path.split(':').pop())).toEqual(['/sts/v1/token', 'generateAccessToken', 'signJwt']);
    world.fake.forgetRequests();
    const impersonated = {
      type: 'impersonated_service_account',
      service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
      source_credentials: world.deployerKey,
    };
    const fromImpersonated = await run(world, {
      audience: appAll,
      token_type: 'signed_jwt',
      credentials_json: JSON.stringify(impersonated),
    });
    expectSuccess(fromImpersonated);
    expect(fromImpersonated.outputs['principal']).toBe(INVOKER);
    expect(world.fake.requests.map((r) => r.path.split(':').pop())).toEqual(['/oauth2/token', 'signJwt']);
  });
});

describe('inputs for signed JWTs', () => {
  test.each([
    [{ token_type: 'jwt' }, "Input token_type: must be auto (the default: chosen from the audience or the app's URL), id_token"],
    [
      { token_type: 'signed_jwt', audience: '1234-abc.apps.googleusercontent.com' },
      'Input audience: must be a URL with token_type signed_jwt',
    ],
    [{ token_type: 'signed_jwt', audience: 'ftp://app.example.com/' }, 'must be an https URL'],
    [{ token_type: 'signed_jwt', audience: 'https://app.example.com/*/x' }, 'may end in /* but have no other wildcard'],
    [{ token_type: 'signed_jwt', audience: 'https://app.example.com*' }, 'may end in /* but have no other wildcard'],
    [{ token_type: 'signed_jwt', audience: 'http://app.example.com/*' }, 'must be an https URL'],
    [
      { token_type: 'signed_jwt', audience: 'https://app.example.com/', lifetime: '7200' },
      'Input lifetime: must be whole seconds from 60 to 3600',
    ],
    [{ lifetime: '600' }, 'Input lifetime: applies to token_type signed_jwt only'],
  ])('%o', async (extra, message) => {
    const error = expectFailure(await run(world, { audience: world.audience, credentials_json: key(), ...extra }));
    expect(error).toContain(message);
    expect(world.fake.count()).toBe(0);
  });

  test('a key without private_key_id cannot sign locally: IAP needs the kid', async () => {
    const { private_key_id: _kid, ...noKid } = world.deployerKey;
    const error = expectFailure(await run(world, { audience: appAll, token_type: 'signed_jwt', credentials_json: JSON.stringify(noKid) }));
    expect(error).toContain('Input credentials_json: has no private_key_id');
  });

  test('the audience is normalised as IAP compares it: host in lower case, no default port', async () => {
    const port = new URL(world.fake.url).port;
    const result = await run(world, { audience: `HTTP://LOCALHOST:${port}/app/*`, token_type: 'signed_jwt', credentials_json: key() });
    expectSuccess(result);
    expect(claimsOf(result.outputs['token'] ?? '')['aud']).toBe(`http://localhost:${port}/app/*`);
  });

  test('an ID token asked for a URL points to signed_jwt', async () => {
    const error = expectFailure(
      await run(world, { audience: 'https://app.example.com/', token_type: 'id_token', credentials_json: key() }),
    );
    expect(error).toContain('For a URL audience, set token_type: signed_jwt.');
  });

  test('token_type auto (the default) mints a signed JWT for a URL audience, and says why', async () => {
    const result = await run(world, { audience: `${world.fake.url}/app/*`, credentials_json: key() });
    expectSuccess(result);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ aud: `${world.fake.url}/app/*`, iss: DEPLOYER });
    expect(result.visibleLog.join('\n')).toContain('token_type auto: signed_jwt, because audience is a URL.');
  });
});
