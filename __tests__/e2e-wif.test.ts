import { beforeEach, describe, expect, test } from '@jest/globals';
import {
  callApp,
  claimsOf,
  expectAllMasked,
  expectFailure,
  expectSuccess,
  INVOKER,
  PROVIDER,
  REPO_MEMBER,
  run,
  useWorld,
} from './e2e-helpers.ts';

const world = useWorld();
beforeEach(() => {
  world.fake.grants.length = 0;
  world.fake.addProvider(PROVIDER);
  world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
});

const wifInputs = () => ({ audience: world.audience, workload_identity_provider: PROVIDER, service_account: INVOKER });

describe('Workload Identity Federation: GitHub OIDC → STS → generateIdToken', () => {
  test('mints an ID token for the service account in three requests, every credential masked', async () => {
    const result = await run(world, wifInputs());
    expectSuccess(result);
    const token = result.outputs['token'] ?? '';
    expect(claimsOf(token)).toMatchObject({ aud: world.audience, email: INVOKER });
    expect(result.outputs['principal']).toBe(INVOKER);
    expect(result.exportedEnv).toEqual({ IAP_TOKEN: token });
    expect([world.fake.count('github'), world.fake.count('sts'), world.fake.count('iamcredentials'), world.fake.count()]).toEqual([
      1, 1, 1, 3,
    ]);
    // The GitHub token was asked for the provider's default audience.
    expect(world.fake.requests[0]?.path).toBe('/github/oidc');
    expect(world.fake.requests[0]?.query.get('audience')).toBe(`https://iam.googleapis.com/${PROVIDER}`);
    // GitHub's OIDC token, the runner's request token, the STS token and the ID token were all masked.
    expect(result.received.length).toBeGreaterThanOrEqual(4);
    expectAllMasked(result);
    expect(await callApp(world, token)).toMatchObject({ status: 200 });
  });

  test('a provider that allows only a custom audience: workload_identity_audience', async () => {
    world.fake.addProvider(PROVIDER, { allowedAudiences: ['https://github.com/octo-org'] });
    const refused = expectFailure(await run(world, wifInputs()));
    expect(refused).toContain('STS token exchange failed: HTTP 400 invalid_grant: The audience in ID Token');
    expect(refused).toContain(
      `its issuer is https://token.actions.githubusercontent.com and that its allowed audiences include https://iam.googleapis.com/${PROVIDER} (or are empty), or set workload_identity_audience to one of them.`,
    );
    const result = await run(world, { ...wifInputs(), workload_identity_audience: 'https://github.com/octo-org' });
    expectSuccess(result);
  });

  test('a provider that does not exist: invalid_target and how to check it', async () => {
    const missing = PROVIDER.replace('providers/github', 'providers/gitlab');
    const error = expectFailure(await run(world, { ...wifInputs(), workload_identity_provider: missing }));
    expect(error).toContain('HTTP 400 invalid_target');
    expect(error).toContain('does not exist or is disabled');
    expect(error).toContain(`gcloud iam workload-identity-pools providers describe ${missing}`);
    expect(world.fake.count('sts')).toBe(1);
  });

  test('an attribute condition that rejects the job: the claims it saw', async () => {
    world.fake.addProvider(PROVIDER, { allowedAudiences: [], condition: (claims) => claims['repository_owner'] === 'other-org' });
    const error = expectFailure(await run(world, wifInputs()));
    expect(error).toContain('HTTP 400 unauthorized_client: The given credential is rejected by the attribute condition.');
    expect(error).toContain('repository=octo-org/deploy-app, repository_owner=octo-org, ref=refs/heads/main');
  });

  test('no workloadIdentityUser grant: the principalSet to grant it to', async () => {
    world.fake.grants.length = 0;
    const error = expectFailure(await run(world, wifInputs()));
    expect(error).toContain('HTTP 403 PERMISSION_DENIED');
    expect(error).toContain(`--member='${REPO_MEMBER}' --role=roles/iam.workloadIdentityUser`);
  });

  test('retries STS and IAM 5xx and a GitHub reset; requests stay bounded', async () => {
    world.fake.inject('github', { reset: true });
    world.fake.inject('sts', { status: 502, body: 'Bad Gateway', headers: { 'content-type': 'text/plain' } });
    world.fake.inject('iamcredentials', { status: 500 });
    const result = await run(world, wifInputs());
    expectSuccess(result);
    expect([world.fake.count('github'), world.fake.count('sts'), world.fake.count('iamcredentials')]).toEqual([2, 2, 2]);
  });

  test('GitHub refuses the request token: the permissions to check', async () => {
    const error = expectFailure(await run(world, wifInputs(), { env: { ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'not-the-runner-token' } }));
    expect(error).toContain('GitHub OIDC token request failed: HTTP 401');
    expect(error).toContain('permissions: id-token: write');
    expect(world.fake.count('github')).toBe(1);
  });
});
