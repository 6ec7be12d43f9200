import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { TestProxy } from '../test-bed/proxy.ts';
import { ROOT } from '../test-bed/runner.ts';
import { DEPLOYER, expectFailure, expectSuccess, INVOKER, PROVIDER, REPO_MEMBER, run, startWorld, type World } from './e2e-helpers.ts';

/**
 * A self-hosted runner behind a corporate proxy: every Google endpoint is an https://*.fake-google.test name that
 * only the proxy can reach (it tunnels to the fake's HTTPS listener), and the runner trusts the test CA.
 */
let world: World;
let proxy: TestProxy;
const CA = join(ROOT, 'test-bed', 'tls', 'ca.pem');

beforeAll(async () => {
  world = await startWorld();
  world.fake.markBaseline();
  proxy = await new TestProxy(() => world.fake.httpsPort).start();
});
afterAll(async () => {
  await proxy.stop();
  await world.fake.stop();
});
beforeEach(() => {
  world.fake.reset();
  proxy.connects.length = 0;
  world.fake.grants.length = 0;
  world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
});

const viaProxy = (extra: Record<string, string> = {}) => ({
  ...world.fake.env((api) => `https://${api}.fake-google.test`),
  NODE_EXTRA_CA_CERTS: CA,
  https_proxy: proxy.url,
  ...extra,
});

describe('https_proxy and no_proxy', () => {
  test('the key flow goes through the proxy', async () => {
    const result = await run(world, { audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) }, { env: viaProxy() });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe(DEPLOYER);
    expect(proxy.connects).toEqual(['oauth2.fake-google.test:443']);
  });

  test('every WIF call goes through the proxy (HTTPS_PROXY in capitals too)', async () => {
    const env = viaProxy({ HTTPS_PROXY: proxy.url, https_proxy: '' });
    const result = await run(world, { audience: world.audience, workload_identity_provider: PROVIDER, service_account: INVOKER }, { env });
    expectSuccess(result);
    expect(proxy.connects).toEqual(['github.fake-google.test:443', 'sts.fake-google.test:443', 'iamcredentials.fake-google.test:443']);
    expect(world.fake.count()).toBe(3);
  });

  test('no_proxy sends a host direct: here it cannot resolve, which fails at once, not after retries', async () => {
    const result = await run(
      world,
      { audience: world.audience, workload_identity_provider: PROVIDER, service_account: INVOKER },
      { env: viaProxy({ no_proxy: 'sts.fake-google.test' }) },
    );
    const error = expectFailure(result);
    expect(error).toContain('STS token exchange failed: the name sts.fake-google.test did not resolve (DNS)');
    expect(proxy.connects).toEqual(['github.fake-google.test:443']);
  });

  test('an untrusted certificate (a TLS-inspecting proxy without its CA): not retried, and NODE_EXTRA_CA_CERTS named', async () => {
    const result = await run(
      world,
      { audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) },
      { env: viaProxy({ NODE_EXTRA_CA_CERTS: '' }) },
    );
    const error = expectFailure(result);
    expect(error).toContain('is not trusted');
    expect(error).toContain('NODE_EXTRA_CA_CERTS');
    expect(proxy.connects).toHaveLength(1);
  });
});
