import { describe, expect, test } from '@jest/globals';
import { FakeGoogle, type Provider } from '../test-bed/fake-google/server.ts';

/**
 * The fake's reset(): every test starts from the world its file set up, whatever the test before it changed. These
 * tests change every kind of state the fake has, then check reset() undoes each change.
 */

/** Fields that are not test state: where the fake listens, its signers, and the credentials it has ever handed out. */
const NOT_STATE = ['url', 'httpsPort', 'googleKey', 'githubKey', 'githubRequestToken', 'secrets'];

/**
 * A deep copy of every other field of the fake, found by enumerating them, so a field added later is compared too.
 * Maps and Sets become arrays; functions and key objects stay themselves (compared by identity).
 */
function state(fake: FakeGoogle): Record<string, unknown> {
  const copy = (value: unknown): unknown => {
    if (value instanceof Map) return ['Map', [...value].map(([k, v]) => [copy(k), copy(v)])];
    if (value instanceof Set) return ['Set', [...value].map(copy)];
    if (value instanceof URLSearchParams) return ['URLSearchParams', value.toString()];
    if (Array.isArray(value)) return value.map(copy);
    if (value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)]));
    }
    return value;
  };
  return Object.fromEntries(
    Object.entries(fake)
      .filter(([field]) => !NOT_STATE.includes(field))
      .map(([field, value]) => [field, copy(value)]),
  );
}

const ALICE = 'alice@example.com';
const SA = 'sa@my-project.iam.gserviceaccount.com';
const PROVIDER = 'projects/1/locations/global/workloadIdentityPools/pool/providers/github';

/** A fake with a world like a test file's setup, taken as its baseline. */
function world() {
  const fake = new FakeGoogle();
  const { account } = fake.addServiceAccount(SA);
  const provider: Provider = { allowedAudiences: ['https://github.com/octo-org'] };
  fake.addProvider(PROVIDER, provider);
  fake.grant(SA, `user:${ALICE}`, 'roles/iam.serviceAccountTokenCreator');
  fake.allow(`serviceAccount:${SA}`);
  fake.iap.programmaticClients.push('42-allowed.apps.googleusercontent.com');
  const user = fake.addUser(ALICE);
  const token = fake.issueAccessToken({ kind: 'serviceAccount', email: SA });
  fake.metadata.serviceAccount = SA;
  fake.markBaseline();
  return { fake, account, provider, user, token };
}

/** Changes every kind of state, as tests do. */
function mutate(fake: FakeGoogle, { account, provider, user, token }: ReturnType<typeof world>): void {
  account.disabled = true;
  fake.addServiceAccount('other@my-project.iam.gserviceaccount.com');
  fake.addServiceAccount(SA); // a new key replaces the account
  provider.disabled = true;
  fake.addProvider(`${PROVIDER}-2`);
  fake.grants.length = 0;
  fake.grant(SA, 'user:mallory@example.com', 'roles/iam.serviceAccountTokenCreator');
  fake.githubClaims['ref'] = 'refs/heads/feature';
  fake.githubClaims = { ...fake.githubClaims, repository: 'someone/else' };
  fake.iap.programmaticClients.push('99-other.apps.googleusercontent.com');
  fake.iap.clientId = 'changed.apps.googleusercontent.com';
  fake.iap.accessors.delete(`serviceAccount:${SA}`);
  fake.allow(`user:${ALICE}`, 60_000);
  fake.metadata.serviceAccount = undefined;
  fake.metadata.honoursScopes = true;
  fake.runIap.acceptsAccessTokens = false;
  fake.signIn.consent = false;
  fake.signIn.email = 'bob@example.com';
  fake.now = () => 0;
  fake.refreshTokens.delete(user.refreshToken);
  fake.addUser('bob@example.com');
  fake.oauthClients.set(user.clientId, 'GOCSPX-rotated');
  fake.accessTokens.delete(token);
  fake.issueAccessToken({ kind: 'user', email: ALICE, scopes: ['openid'] });
  fake.authorizationCodes.set('4/0Acode', { clientId: user.clientId, redirectUri: 'http://127.0.0.1/', challenge: 'c', email: ALICE });
  fake.inject('sts', { status: 503 });
  fake.requests.push({ endpoint: 'sts', method: 'POST', path: '/sts/v1/token', query: new URLSearchParams(), at: 0 });
  fake.appRequests.push({ path: '/app', method: 'GET', authorization: null });
  fake.inFlight.set('sts', 3);
  fake.maxInFlight.set('sts', 3);
}

describe('FakeGoogle.reset()', () => {
  test('returns every kind of state to the baseline, every time', () => {
    const w = world();
    const { fake, account, provider } = w;
    const baseline = state(fake);
    for (let round = 0; round < 2; round++) {
      mutate(fake, w);
      expect(state(fake)).not.toEqual(baseline);
      fake.reset();
      expect(state(fake)).toEqual(baseline);
    }
    // Spelled out, for the kinds of state tests change most:
    expect(fake.serviceAccounts.get(SA)).toBe(account);
    expect(account.disabled).toBe(false);
    expect([...fake.serviceAccounts.keys()]).toEqual([SA]);
    expect(fake.providers.get(PROVIDER)).toBe(provider);
    expect(provider).toEqual({ allowedAudiences: ['https://github.com/octo-org'] });
    expect([...fake.providers.keys()]).toEqual([PROVIDER]);
    expect(fake.grants).toEqual([{ resource: SA, member: `user:${ALICE}`, role: 'roles/iam.serviceAccountTokenCreator' }]);
    expect(fake.githubClaims['ref']).toBe('refs/heads/main');
    expect(fake.githubClaims['repository']).toBe('octo-org/deploy-app');
    expect(fake.iap.programmaticClients).toEqual(['42-allowed.apps.googleusercontent.com']);
    expect(fake.iap.clientId).toBe('1234567890-iapclient.apps.googleusercontent.com');
    expect([...fake.iap.accessors]).toEqual([[`serviceAccount:${SA}`, 0]]);
    expect(fake.metadata).toEqual({ serviceAccount: SA, honoursScopes: false });
    expect(fake.runIap.acceptsAccessTokens).toBe(true);
    expect(fake.signIn).toEqual({ email: ALICE, consent: true });
    expect(fake.now).toBe(Date.now);
    expect([...fake.refreshTokens.keys()]).toEqual([w.user.refreshToken]);
    expect([...fake.oauthClients]).toEqual([[w.user.clientId, w.user.clientSecret]]);
    expect([...fake.accessTokens.keys()]).toEqual([w.token]);
    expect(fake.identify(`Bearer ${w.token}`)).toEqual({ kind: 'serviceAccount', email: SA });
    expect(fake.authorizationCodes.size).toBe(0);
    expect([fake.requests, fake.appRequests, [...fake.faults], [...fake.inFlight], [...fake.maxInFlight]]).toEqual([[], [], [], [], []]);
  });

  test('before any baseline was taken, returns to the state as constructed', () => {
    const fake = new FakeGoogle();
    const constructed = state(fake);
    const { account } = fake.addServiceAccount(SA);
    fake.addProvider(PROVIDER);
    fake.grant(SA, `user:${ALICE}`, 'roles/iam.serviceAccountTokenCreator');
    fake.allow(`user:${ALICE}`);
    fake.addUser(ALICE);
    fake.metadata.serviceAccount = SA;
    fake.githubClaims['sub'] = 'repo:someone/else:ref:refs/heads/main';
    fake.now = () => 0;
    mutate(fake, { fake, account, provider: { allowedAudiences: [] }, user: fake.addUser(ALICE), token: 'ya29.none' });
    fake.reset();
    expect(state(fake)).toEqual(constructed);
    expect(fake.serviceAccounts.size + fake.providers.size + fake.grants.length + fake.refreshTokens.size).toBe(0);
  });

  test('keeps every credential ever handed out in `secrets`, for the leak checks', () => {
    const { fake } = world();
    const before = new Set(fake.secrets);
    const later = fake.addUser('bob@example.com');
    const token = fake.issueAccessToken({ kind: 'serviceAccount', email: SA });
    fake.reset();
    expect(fake.refreshTokens.has(later.refreshToken)).toBe(false);
    expect([...fake.secrets]).toEqual([...before, later.clientSecret, later.refreshToken, token]);
  });

  test('forgetRequests() forgets the traffic and keeps the world', () => {
    const w = world();
    const { fake } = w;
    mutate(fake, w);
    const changed = state(fake);
    fake.forgetRequests();
    expect(state(fake)).toEqual({
      ...changed,
      requests: [],
      appRequests: [],
      faults: ['Map', []],
      inFlight: ['Map', []],
      maxInFlight: ['Map', []],
    });
  });

  test('a request still in flight across a reset does not skew the new in-flight figures', async () => {
    const { fake } = world();
    await fake.start();
    try {
      fake.inject('github', { delayMs: 300, status: 503 });
      const slow = fetch(`${fake.url}/github/oidc`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(fake.inFlight.get('github')).toBe(1);
      fake.reset();
      expect(fake.count()).toBe(0);
      expect((await slow).status).toBe(503);
      const quick = await fetch(`${fake.url}/github/oidc`);
      expect(quick.status).toBe(401);
      await quick.text();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect([fake.count('github'), fake.inFlight.get('github'), fake.maxInFlight.get('github')]).toEqual([1, 0, 1]);
    } finally {
      await fake.stop();
    }
  });
});
