import { beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmasked } from '../test-bed/runner.ts';
import {
  CLOUD_PLATFORM,
  callApp,
  claimsOf,
  closedPort,
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

let dir: string;
const USER = 'alice@example.com';
const world = useWorld((w) => {
  w.fake.allow(`user:${USER}`);
  dir = mkdtempSync(join(tmpdir(), 'iap-token-adc-'));
});
beforeEach(() => {
  world.fake.grants.length = 0;
  world.fake.metadata.serviceAccount = undefined;
});

function adcFile(name: string, json: unknown): Record<string, string> {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(json, null, 2));
  return { GOOGLE_APPLICATION_CREDENTIALS: path };
}

describe('the metadata server (self-hosted runners on Google Cloud)', () => {
  test('no credential input: the identity endpoint with format=full, one request', async () => {
    world.fake.metadata.serviceAccount = DEPLOYER;
    const result = await run(world, { audience: world.audience }, { env: { GCE_METADATA_HOST: world.fake.metadataHost } });
    expectSuccess(result);
    expect(world.fake.requests.map((r) => r.path)).toEqual(['/computeMetadata/v1/instance/service-accounts/default/identity']);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ email: DEPLOYER, aud: world.audience });
    expect(result.outputs['principal']).toBe(DEPLOYER);
    expectAllMasked(result);
    expect(await callApp(world, result.outputs['token'] ?? '')).toMatchObject({ status: 200 });
  });

  test('with service_account: token and email side by side, then generateIdToken', async () => {
    world.fake.metadata.serviceAccount = DEPLOYER;
    const denied = expectFailure(
      await run(world, { audience: world.audience, service_account: INVOKER }, { env: { GCE_METADATA_HOST: world.fake.metadataHost } }),
    );
    // The remedy names the VM's account, learned from the email endpoint.
    expect(denied).toContain(`--member='serviceAccount:${DEPLOYER}' --role=roles/iam.serviceAccountOpenIdTokenCreator`);
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountOpenIdTokenCreator');
    world.fake.forgetRequests();
    const result = await run(
      world,
      { audience: world.audience, service_account: INVOKER },
      { env: { GCE_METADATA_HOST: world.fake.metadataHost } },
    );
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect([world.fake.count('metadata'), world.fake.count('iamcredentials')]).toEqual([2, 1]);
  });

  test('no metadata server: fails within seconds, listing the credential inputs', async () => {
    const port = await closedPort();
    const result = await run(world, { audience: world.audience }, { env: { GCE_METADATA_HOST: `127.0.0.1:${port}` } });
    const error = expectFailure(result);
    expect(error).toContain('refused the connection');
    expect(error).toContain('No credential input is set');
    expect(error).toContain('workload_identity_provider, credentials_json, or refresh_token');
    expect(result.ms).toBeLessThan(10_000);
  });

  test('a metadata server without a service account: 404 explained', async () => {
    const error = expectFailure(await run(world, { audience: world.audience }, { env: { GCE_METADATA_HOST: world.fake.metadataHost } }));
    expect(error).toContain('HTTP 404');
    expect(error).toContain('no service account is attached');
    expect(world.fake.count('metadata')).toBe(1);
  });

  test('GCE_METADATA_HOST with a scheme is an input error', async () => {
    const error = expectFailure(
      await run(world, { audience: world.audience }, { env: { GCE_METADATA_HOST: `http://${world.fake.metadataHost}` } }),
    );
    expect(error).toContain('Input GCE_METADATA_HOST: must be host[:port] without a scheme');
    expect(world.fake.count()).toBe(0);
  });
});

describe('an OAuth refresh token', () => {
  test('the refresh grant with the audience: one request, an ID token for the user', async () => {
    const user = world.fake.addUser(USER);
    const result = await run(world, {
      audience: world.audience,
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    });
    expectSuccess(result);
    expect(world.fake.count()).toBe(1);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ email: USER, aud: world.audience });
    expect(result.outputs['principal']).toBe(USER);
    expectAllMasked(result);
    expect(unmasked(result, [user.refreshToken, user.clientSecret, user.clientId])).toEqual([]);
    expect(await callApp(world, result.outputs['token'] ?? '')).toMatchObject({ status: 200 });
  });

  test('all three inputs are needed; the missing one is named', async () => {
    const user = world.fake.addUser(USER);
    const error = expectFailure(
      await run(world, { audience: world.audience, refresh_token: user.refreshToken, oauth_client_id: user.clientId }),
    );
    expect(error).toBe(
      'Input oauth_client_secret: is required with refresh_token: the desktop OAuth client that obtained the refresh token.',
    );
    const orphan = expectFailure(
      await run(world, { audience: world.audience, oauth_client_id: user.clientId, credentials_json: JSON.stringify(world.deployerKey) }),
    );
    expect(orphan).toContain('Input oauth_client_id: goes with refresh_token');
    expect(world.fake.count()).toBe(0);
  });

  test('a revoked refresh token and a wrong client secret: what to do', async () => {
    const user = world.fake.addUser(USER);
    world.fake.refreshTokens.delete(user.refreshToken);
    const revoked = expectFailure(
      await run(world, {
        audience: world.audience,
        refresh_token: user.refreshToken,
        oauth_client_id: user.clientId,
        oauth_client_secret: user.clientSecret,
      }),
    );
    expect(revoked).toContain('HTTP 400 invalid_grant: Token has been expired or revoked.');
    expect(revoked).toContain('Sign in again');
    const other = world.fake.addUser(USER);
    const wrongSecret = expectFailure(
      await run(world, {
        audience: world.audience,
        refresh_token: other.refreshToken,
        oauth_client_id: other.clientId,
        oauth_client_secret: 'GOCSPX-wrong-secret',
      }),
    );
    expect(wrongSecret).toContain('HTTP 401 invalid_client');
    expect(wrongSecret).toContain('check oauth_client_id and oauth_client_secret');
  });

  test('impersonation needs the cloud-platform scope; with it, two requests', async () => {
    const narrow = world.fake.addUser(USER);
    world.fake.grant(INVOKER, `user:${USER}`, 'roles/iam.serviceAccountOpenIdTokenCreator');
    const scopeError = expectFailure(
      await run(world, {
        audience: world.audience,
        refresh_token: narrow.refreshToken,
        oauth_client_id: narrow.clientId,
        oauth_client_secret: narrow.clientSecret,
        service_account: INVOKER,
      }),
    );
    expect(scopeError).toContain('insufficient authentication scopes');
    expect(scopeError).toContain('cloud-platform scope');
    const broad = world.fake.addUser(USER, ['openid', 'email', CLOUD_PLATFORM]);
    world.fake.forgetRequests();
    const result = await run(world, {
      audience: world.audience,
      refresh_token: broad.refreshToken,
      oauth_client_id: broad.clientId,
      oauth_client_secret: broad.clientSecret,
      service_account: INVOKER,
    });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect([world.fake.count('oauth2'), world.fake.count('iamcredentials')]).toEqual([1, 1]);
  });
});

describe('Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS) and credentials_json of every type', () => {
  test('a service_account file', async () => {
    const result = await run(world, { audience: world.audience }, { env: adcFile('sa.json', world.deployerKey) });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(DEPLOYER);
    expect(result.visibleLog.join('\n')).toContain('(GOOGLE_APPLICATION_CREDENTIALS (');
    expect(world.fake.count()).toBe(1);
  });

  test('an explicit input wins over GOOGLE_APPLICATION_CREDENTIALS', async () => {
    const user = world.fake.addUser(USER);
    const result = await run(
      world,
      {
        audience: world.audience,
        refresh_token: user.refreshToken,
        oauth_client_id: user.clientId,
        oauth_client_secret: user.clientSecret,
      },
      { env: adcFile('ignored.json', world.deployerKey) },
    );
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(USER);
  });

  test('an authorized_user file (gcloud auth application-default login), also as credentials_json', async () => {
    const user = world.fake.addUser(USER);
    const file = { type: 'authorized_user', client_id: user.clientId, client_secret: user.clientSecret, refresh_token: user.refreshToken };
    const fromFile = await run(world, { audience: world.audience }, { env: adcFile('user.json', file) });
    expectSuccess(fromFile);
    expect(fromFile.outputs['principal']).toBe(USER);
    expect(unmasked(fromFile, [user.refreshToken, user.clientSecret])).toEqual([]);
    const fromInput = await run(world, { audience: world.audience, credentials_json: JSON.stringify(file) });
    expectSuccess(fromInput);
  });

  const githubAudience = `https://iam.googleapis.com/${PROVIDER}`;
  const externalAccount = (credentialSource: Record<string, unknown>, impersonate?: string) => ({
    type: 'external_account',
    audience: `//iam.googleapis.com/${PROVIDER}`,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${world.fake.url}/sts/v1/token`,
    ...(impersonate
      ? {
          service_account_impersonation_url: `${world.fake.url}/iamcredentials/v1/projects/-/serviceAccounts/${impersonate}:generateAccessToken`,
        }
      : {}),
    credential_source: credentialSource,
  });

  test('external_account as google-github-actions/auth writes it: URL source, impersonation URL → generateIdToken directly', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    const file = externalAccount(
      {
        url: `${world.fake.url}/github/oidc?api-version=2.0&audience=${encodeURIComponent(githubAudience)}`,
        headers: { Authorization: `Bearer ${world.fake.githubRequestToken}` },
        format: { type: 'json', subject_token_field_name: 'value' },
      },
      INVOKER,
    );
    const result = await run(
      world,
      { audience: world.audience },
      { env: { ...adcFile('ext-url.json', file), ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' } },
    );
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect(world.fake.requests.map((r) => r.endpoint)).toEqual(['github', 'sts', 'iamcredentials']);
    expect(world.fake.requests[2]?.path).toMatch(/:generateIdToken$/);
    expectAllMasked(result);
    expect(unmasked(result, [world.fake.githubRequestToken])).toEqual([]);
    expect(await callApp(world, result.outputs['token'] ?? '')).toMatchObject({ status: 200 });
  });

  test('external_account with a file source in text format and service_account instead of an impersonation URL', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    const tokenPath = join(dir, 'subject-token');
    writeFileSync(tokenPath, `${world.fake.issueGitHubToken(githubAudience)}\n`);
    const file = externalAccount({ file: tokenPath });
    const missing = expectFailure(await run(world, { audience: world.audience }, { env: adcFile('ext-file.json', file) }));
    expect(missing).toContain('Input service_account: is required: the external_account credentials');
    const result = await run(world, { audience: world.audience, service_account: INVOKER }, { env: adcFile('ext-file.json', file) });
    expectSuccess(result);
    expect(world.fake.requests.map((r) => r.endpoint)).toEqual(['sts', 'iamcredentials']);
  });

  test('an executable credential source, through google-auth-library loaded from its own file', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    const script = join(dir, 'subject-token.cjs');
    const response = {
      version: 1,
      success: true,
      token_type: 'urn:ietf:params:oauth:token-type:jwt',
      id_token: world.fake.issueGitHubToken(githubAudience),
      expiration_time: Math.floor(Date.now() / 1000) + 300,
    };
    writeFileSync(script, `process.stdout.write(${JSON.stringify(JSON.stringify(response))});`);
    const file = externalAccount({ executable: { command: `${process.execPath} ${script}`, timeout_millis: 10_000 } }, INVOKER);
    const refused = expectFailure(await run(world, { audience: world.audience }, { env: adcFile('exec.json', file) }));
    expect(refused).toContain('Input GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES: must be 1 to run the command');
    expect(world.fake.count()).toBe(0);
    const result = await run(
      world,
      { audience: world.audience },
      { env: { ...adcFile('exec.json', file), GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES: '1' } },
    );
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect(world.fake.requests.map((r) => r.endpoint)).toEqual(['sts', 'iamcredentials']);
    expectAllMasked(result);
  });

  test('a credential source google-auth-library cannot use fails with its reason, quoted', async () => {
    const file = externalAccount({ executable: { command: `${process.execPath} -e process.exit(3)`, timeout_millis: 5_000 } }, INVOKER);
    const error = expectFailure(
      await run(
        world,
        { audience: world.audience },
        { env: { ...adcFile('exec-fail.json', file), GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES: '1' } },
      ),
    );
    expect(error).toContain("The external account's executable credential source failed (google-auth-library)");
    expect(world.fake.count()).toBe(0);
  });

  test('impersonated_service_account: generateIdToken on its account with the source key', async () => {
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountTokenCreator');
    const file = {
      type: 'impersonated_service_account',
      service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
      delegates: [],
      source_credentials: world.deployerKey,
    };
    const result = await run(world, { audience: world.audience }, { env: adcFile('impersonated.json', file) });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect(world.fake.requests.map((r) => r.endpoint)).toEqual(['oauth2', 'iamcredentials']);
  });

  test('an unreadable or malformed file: the variable is named, nothing is sent', async () => {
    const unreadable = expectFailure(
      await run(world, { audience: world.audience }, { env: { GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'missing.json') } }),
    );
    expect(unreadable).toContain('Input GOOGLE_APPLICATION_CREDENTIALS: names');
    expect(unreadable).toContain('cannot be read (ENOENT)');
    writeFileSync(join(dir, 'broken.json'), '{"type": "authorized_user", "client_id": "x", "refresh_token": "1//secret-value-here"}');
    const broken = expectFailure(
      await run(world, { audience: world.audience }, { env: { GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'broken.json') } }),
    );
    expect(broken).toBe('Input GOOGLE_APPLICATION_CREDENTIALS: the authorized_user credentials lack client_secret.');
    expect(world.fake.count()).toBe(0);
  });
});

describe('several sources at once', () => {
  test('are refused, naming each', async () => {
    const user = world.fake.addUser(USER);
    const error = expectFailure(
      await run(world, {
        audience: world.audience,
        credentials_json: JSON.stringify(world.deployerKey),
        refresh_token: user.refreshToken,
        oauth_client_id: user.clientId,
        oauth_client_secret: user.clientSecret,
      }),
    );
    expect(error).toContain('credentials_json and refresh_token are both set');
    expect(world.fake.count()).toBe(0);
  });
});
