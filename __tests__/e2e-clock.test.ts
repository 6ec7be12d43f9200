import { beforeEach, describe, expect, test } from '@jest/globals';
import { claimsOf, expectFailure, expectSuccess, INVOKER, PROVIDER, REPO_MEMBER, run, useWorld } from './e2e-helpers.ts';

/** The runner's clock and Google's disagree: by a few minutes it must not matter; by more, the error says so. */
const world = useWorld((w) => {
  w.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
});
beforeEach(() => {
  world.fake.now = Date.now;
});

const MINUTE = 60_000;
const key = () => JSON.stringify(world.deployerKey);

async function callApp(token: string): Promise<number> {
  return (await fetch(`${world.fake.appUrl}/x`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' })).status;
}

describe('clock skew', () => {
  test.each([
    ['Google 4 minutes ahead of the runner', 4],
    ['Google 4 minutes behind the runner', -4],
  ])('%s: both token kinds are minted and accepted', async (_name, minutes) => {
    world.fake.now = () => Date.now() + minutes * MINUTE;
    const idToken = await run(world, { audience: world.audience, credentials_json: key() });
    expectSuccess(idToken);
    expect(await callApp(idToken.outputs['token'] ?? '')).toBe(200);
    const signed = await run(world, { audience: `${world.fake.appUrl}/*`, token_type: 'signed_jwt', credentials_json: key() });
    expectSuccess(signed);
    expect(await callApp(signed.outputs['token'] ?? '')).toBe(200);
  });

  test('a runner clock 10 minutes fast: Google refuses the assertion, and the error says to fix the clock', async () => {
    world.fake.now = () => Date.now() - 10 * MINUTE;
    const error = expectFailure(await run(world, { audience: world.audience, credentials_json: key() }));
    expect(error).toContain('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe');
    expect(error).toContain("the runner's clock is off");
  });

  test('a token that expires within five minutes of minting gets a warning', async () => {
    const short = await run(world, {
      audience: `${world.fake.appUrl}/*`,
      token_type: 'signed_jwt',
      credentials_json: key(),
      lifetime: '120',
    });
    expectSuccess(short);
    expect(short.warnings.join('\n')).toMatch(/The token expires in 1[12]\d s, before most jobs are done with it\. Raise lifetime/);
    // A runner 58 minutes fast sees Google's one-hour ID token as nearly expired.
    world.fake.now = () => Date.now() - 58 * MINUTE;
    const skewed = await run(world, { audience: world.audience, workload_identity_provider: PROVIDER, service_account: INVOKER });
    expectSuccess(skewed);
    expect(claimsOf(skewed.outputs['token'] ?? '')['aud']).toBe(world.audience);
    expect(skewed.warnings.join('\n')).toMatch(/The token expires in 1[12]\d s.*Check the runner's clock/);
  });
});
