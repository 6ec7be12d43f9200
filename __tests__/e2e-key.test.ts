import { beforeEach, describe, expect, test } from '@jest/globals';
import {
  callApp,
  claimsOf,
  DEPLOYER,
  expectAllMasked,
  expectFailure,
  expectSuccess,
  INVOKER,
  RELAY,
  run,
  useWorld,
} from './e2e-helpers.ts';

const world = useWorld();
beforeEach(() => {
  world.fake.grants.length = 0;
});

const keyInputs = () => ({ audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) });

describe('service-account key, no service_account: the JWT-bearer grant', () => {
  test('mints an ID token IAP accepts, in one request, and publishes it masked', async () => {
    const result = await run(world, keyInputs());
    expectSuccess(result);
    const token = result.outputs['token'] ?? '';
    expect(claimsOf(token)).toMatchObject({ aud: world.audience, email: DEPLOYER, iss: 'https://accounts.google.com' });
    expect(result.outputs['principal']).toBe(DEPLOYER);
    expect(result.outputs['expires_at']).toBe(new Date((claimsOf(token)['exp'] as number) * 1000).toISOString().replace('.000Z', 'Z'));
    expect(result.exportedEnv).toEqual({ IAP_TOKEN: token });
    expect(world.fake.count()).toBe(1);
    expect(world.fake.count('oauth2')).toBe(1);
    expectAllMasked(result);
    expect(result.summary).toContain(DEPLOYER);
    expect(result.summary).toContain(world.audience);
    expect(result.visibleLog.join('\n')).toContain(`Minted an ID token for ${DEPLOYER}`);
    expect(result.visibleLog.join('\n')).toContain('Exported the token as $IAP_TOKEN');
    expect(await callApp(world, token)).toMatchObject({ status: 200, iap: false });
  });

  test('accepts the key as base64, and exports under another name or not at all', async () => {
    const base64 = Buffer.from(JSON.stringify(world.deployerKey)).toString('base64');
    const renamed = await run(world, { ...keyInputs(), credentials_json: base64, export_variable: 'APP_TOKEN' });
    expectSuccess(renamed);
    expect(Object.keys(renamed.exportedEnv)).toEqual(['APP_TOKEN']);
    const none = await run(world, { ...keyInputs(), export_variable: '' });
    expectSuccess(none);
    expect(none.exportedEnv).toEqual({});
    expect(none.outputs['token']).toBeTruthy();
  });

  test('a step summary that cannot be written is a warning, not a failure', async () => {
    const result = await run(world, keyInputs(), { env: { GITHUB_STEP_SUMMARY: '/proc/not-writable/summary.md' } });
    expectSuccess(result);
    expect(result.warnings.join('\n')).toContain('Could not write the step summary');
    expect(result.outputs['token']).toBeTruthy();
  });

  test("posts to the endpoint override when one is set, over the key file's token_uri", async () => {
    const key = { ...world.deployerKey, token_uri: 'https://oauth2.googleapis.com/token' };
    const result = await run(world, { ...keyInputs(), credentials_json: JSON.stringify(key) });
    expectSuccess(result);
    expect(world.fake.count('oauth2')).toBe(1);
  });

  test("a deleted or replaced key: Google's message and what to do, after one request", async () => {
    const { keyFile: stale } = world.fake.addServiceAccount('rotated@my-project.iam.gserviceaccount.com');
    world.fake.addServiceAccount('rotated@my-project.iam.gserviceaccount.com'); // a new key replaces the old
    const error = expectFailure(await run(world, { ...keyInputs(), credentials_json: JSON.stringify(stale) }));
    expect(error).toContain('HTTP 400 invalid_grant: Invalid JWT Signature.');
    expect(error).toContain('Create a new key for rotated@my-project.iam.gserviceaccount.com');
    expect(world.fake.count()).toBe(1);
  });

  test('retries 503s and a reset connection, then succeeds', async () => {
    world.fake.inject('oauth2', { status: 503 }, { reset: true }, { status: 429, headers: { 'retry-after': '0' } });
    const result = await run(world, keyInputs());
    expectSuccess(result);
    expect(world.fake.count('oauth2')).toBe(4);
    const log = result.visibleLog.join('\n');
    expect(log).toMatch(/HTTP 503 \(attempt 1 of 5\); retrying in \d+\.\d s/);
    expect(log).toMatch(/was reset \(attempt 2 of 5\)/);
    expect(log).toMatch(/HTTP 429 \(attempt 3 of 5\); retrying in \d\.\d s/);
  });

  test('gives up after 5 attempts when the endpoint keeps failing, quoting the status', async () => {
    world.fake.inject('oauth2', ...Array.from({ length: 5 }, () => ({ status: 503 })));
    const error = expectFailure(await run(world, keyInputs()));
    expect(error).toContain('failed after 5 attempts: HTTP 503 UNAVAILABLE: The service is currently unavailable.');
    expect(world.fake.count('oauth2')).toBe(5);
  });

  test('an HTML error page is reported by its title, not dumped', async () => {
    world.fake.inject('oauth2', {
      status: 400,
      headers: { 'content-type': 'text/html' },
      body: '<html><head><title>Error 400 (Bad Request)!!1</title></head><body>…</body></html>',
    });
    const error = expectFailure(await run(world, keyInputs()));
    expect(error).toContain('HTTP 400: HTML page "Error 400 (Bad Request)!!1"');
    expect(world.fake.count('oauth2')).toBe(1);
  });
});

describe('service-account key + service_account: access token, then generateIdToken', () => {
  test('mints the token for the impersonated account in two requests', async () => {
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountOpenIdTokenCreator');
    const result = await run(world, { ...keyInputs(), service_account: INVOKER });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ email: INVOKER, aud: world.audience });
    expect([world.fake.count('oauth2'), world.fake.count('iamcredentials'), world.fake.count()]).toEqual([1, 1, 2]);
    expectAllMasked(result);
    expect(await callApp(world, result.outputs['token'] ?? '')).toMatchObject({ status: 200 });
  });

  test('without the role: the permission, the account, the caller and the role that grants it', async () => {
    const error = expectFailure(await run(world, { ...keyInputs(), service_account: INVOKER }));
    expect(error).toContain(`IAM Credentials generateIdToken for ${INVOKER} failed: HTTP 403 PERMISSION_DENIED`);
    expect(error).toContain(`the caller serviceAccount:${DEPLOYER} lacks iam.serviceAccounts.getOpenIdToken on ${INVOKER}`);
    expect(error).toContain(
      `gcloud iam service-accounts add-iam-policy-binding ${INVOKER} --member='serviceAccount:${DEPLOYER}' --role=roles/iam.serviceAccountOpenIdTokenCreator`,
    );
    expect(world.fake.count('iamcredentials')).toBe(1);
  });

  test('through delegates: each hop holds the token creator role on the next', async () => {
    world.fake.grant(RELAY, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountTokenCreator');
    const denied = expectFailure(await run(world, { ...keyInputs(), service_account: INVOKER, delegates: RELAY }));
    expect(denied).toContain(`serviceAccount:${DEPLOYER} → ${RELAY} → ${INVOKER}`);
    expect(denied).toContain(
      `add-iam-policy-binding ${INVOKER} --member='serviceAccount:${RELAY}' --role=roles/iam.serviceAccountTokenCreator`,
    );
    world.fake.grant(INVOKER, `serviceAccount:${RELAY}`, 'roles/iam.serviceAccountTokenCreator');
    const result = await run(world, { ...keyInputs(), service_account: INVOKER, delegates: `${RELAY}\n` });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(INVOKER);
  });

  test('include_email: false is honoured with a warning, and IAP then refuses the token', async () => {
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountOpenIdTokenCreator');
    const result = await run(world, { ...keyInputs(), service_account: INVOKER, include_email: 'false' });
    expectSuccess(result);
    expect(result.warnings.join('\n')).toContain('IAP refuses ID tokens without an email claim');
    expect(claimsOf(result.outputs['token'] ?? '')['email']).toBeUndefined();
    expect(await callApp(world, result.outputs['token'] ?? '')).toEqual({
      status: 401,
      iap: true,
      body: "Invalid IAP credentials: JWT 'email' claim isn't a string",
    });
  });
});
