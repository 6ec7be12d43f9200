import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setMasker } from '../src/secrets.ts';
import type { CredentialSource, MetadataSource, WorkloadIdentitySource } from '../src/config.ts';
import { createCredential, impersonate, type Credential, type GoogleClients } from '../src/credentials/index.ts';
import { resolveEndpoints } from '../src/endpoints.ts';
import { ApiError, complainAsAction } from '../src/errors.ts';
import { IamCredentials } from '../src/google/iam-credentials.ts';
import { OAuthTokenEndpoint } from '../src/google/oauth.ts';
import { Http } from '../src/http/client.ts';
import { ACTION_VOCABULARY, readConfig, type InputName } from '../src/inputs/index.ts';
import { parseCredentialsFile } from '../src/inputs/credentials-file.ts';
import { decodeJwt } from '../src/jwt.ts';
import { createMinter } from '../src/pipeline.ts';
import { DEPLOYER, INVOKER, PROJECT_NUMBER, PROVIDER, RELAY, REPO_MEMBER, startWorld, type World } from '../test-bed/world.ts';

setMasker(() => undefined);

const TOKEN_CREATOR = 'roles/iam.serviceAccountTokenCreator';
const WORKLOAD_IDENTITY_USER = 'roles/iam.workloadIdentityUser';
const GITHUB_AUDIENCE = `https://iam.googleapis.com/${PROVIDER}`;

let world: World;
let env: Record<string, string>;
/** One clock for the credentials and the fake, moved by hand. */
let clock = 0;
const now = () => clock;

beforeAll(async () => {
  world = await startWorld();
  env = { ...world.fake.env(), GITHUB_REPOSITORY: 'octo-org/deploy-app' };
});
afterAll(async () => world.fake.stop());
beforeEach(() => {
  // By hand rather than reset(), which may also return the world to a baseline: these tests grant as they go.
  world.fake.requests.length = 0;
  world.fake.faults.clear();
  world.fake.maxInFlight.clear();
  world.fake.grants.length = 0;
  world.fake.metadata.serviceAccount = undefined;
  clock = Date.now();
  world.fake.now = now;
});

function clients(): GoogleClients {
  const http = new Http({ sleep: async () => undefined });
  const endpoints = resolveEndpoints('googleapis.com', env, complainAsAction);
  return {
    endpoints,
    http,
    oauth: new OAuthTokenEndpoint(http, now),
    iam: new IamCredentials(http, endpoints.iamcredentials, now),
    env,
    now,
  };
}

const credential = (source: CredentialSource) => createCredential(source, clients());
const fromFile = (json: Record<string, unknown>) => parseCredentialsFile(json, 'credentials_json', 'credentials_json', complainAsAction);
const keySource = () => fromFile(world.deployerKey);
const wifSource = (): WorkloadIdentitySource => ({
  kind: 'workload_identity',
  provider: PROVIDER,
  projectNumber: PROJECT_NUMBER,
  pool: 'github-pool',
  oidcAudience: GITHUB_AUDIENCE,
  oidcRequestUrl: env['ACTIONS_ID_TOKEN_REQUEST_URL'] ?? '',
  oidcRequestToken: world.fake.githubRequestToken,
  origin: 'workload_identity_provider',
});
const metadataSource = (): MetadataSource => ({
  kind: 'metadata',
  host: world.fake.metadataHost,
  origin: 'the metadata server',
  unreachable: 'none answered',
  otherwise: 'or give a credential',
});

/** What the fake was asked, in order: the endpoint, and for IAM Credentials the method. */
const asked = () => world.fake.requests.map((r) => (r.endpoint === 'iamcredentials' ? r.path.replace(/^.*:/, 'iam:') : r.endpoint));
const kidOf = (jwt: string) => decodeJwt(jwt)?.header['kid'];
const keyIdOf = (email: string) => world.fake.serviceAccounts.get(email)?.key.kid;

// Proves: each credential composes the clients with the fewest requests per operation (counted at the fake, in order).
describe('each credential kind makes the fewest requests per operation', () => {
  test('a key: ID token 1 request, signJwt none (signed locally), access token 1', async () => {
    const key = credential(keySource());
    expect(decodeJwt(await key.idToken!(world.audience, true))?.claims).toMatchObject({ aud: world.audience, email: DEPLOYER });
    expect(asked()).toEqual(['oauth2']);
    const jwt = await key.signJwt!({ iss: DEPLOYER, aud: 'https://app.example/' });
    expect([kidOf(jwt), asked()]).toEqual([keyIdOf(DEPLOYER), ['oauth2']]);
    await key.accessToken();
    expect(asked()).toEqual(['oauth2', 'oauth2']);
    expect([key.principal, key.member, key.federated]).toEqual([DEPLOYER, `serviceAccount:${DEPLOYER}`, false]);
  });

  test('the metadata server: ID token 1 request; access token 2 in parallel (token, email), and the principal is learned', async () => {
    world.fake.metadata.serviceAccount = DEPLOYER;
    const vm = credential(metadataSource());
    await vm.idToken!(world.audience, true);
    expect(world.fake.requests.map((r) => r.path.split('/').pop())).toEqual(['identity']);
    expect([vm.principal, vm.member]).toEqual([undefined, 'serviceAccount:THE_RUNNER_VM_SERVICE_ACCOUNT']);
    world.fake.maxInFlight.clear();
    world.fake.inject('metadata', { delayMs: 150 }, { delayMs: 150 });
    await vm.accessToken();
    expect(world.fake.requests.map((r) => r.path.split('/').pop()).sort()).toEqual(['email', 'identity', 'token']);
    expect(world.fake.maxInFlight.get('metadata')).toBe(2);
    expect([vm.principal, vm.member]).toEqual([DEPLOYER, `serviceAccount:${DEPLOYER}`]);
  });

  test("a refresh token: ID token 1 request; the access token's answer names the user", async () => {
    const user = world.fake.addUser('alice@example.com');
    const refresh = credential({ kind: 'refresh_token', ...user, origin: 'refresh_token', clientOrigin: 'the client' });
    expect(decodeJwt(await refresh.idToken!(world.audience, true))?.claims['aud']).toBe(world.audience);
    expect(asked()).toEqual(['oauth2']);
    await refresh.accessToken();
    expect(asked()).toEqual(['oauth2', 'oauth2']);
    expect([refresh.principal, refresh.member]).toEqual(['alice@example.com', 'user:alice@example.com']);
  });

  test('Workload Identity Federation: access token = GitHub OIDC (with the audience) + STS; no ID tokens of its own', async () => {
    const wif = credential(wifSource());
    expect([wif.idToken, wif.signJwt, wif.federated, wif.member]).toEqual([undefined, undefined, true, REPO_MEMBER]);
    const token = await wif.accessToken();
    expect(asked()).toEqual(['github', 'sts']);
    expect(world.fake.requests[0]?.query.get('audience')).toBe(GITHUB_AUDIENCE);
    expect(world.fake.accessTokens.get(token)?.identity.kind).toBe('federated');
  });

  test('external_account with a file source and an impersonation URL: STS once, then IAM for each token', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, WORKLOAD_IDENTITY_USER);
    const path = join(mkdtempSync(join(tmpdir(), 'iap-token-creds-')), 'subject-token');
    writeFileSync(path, `${world.fake.issueGitHubToken(GITHUB_AUDIENCE)}\n`);
    const external = credential(
      fromFile({
        type: 'external_account',
        audience: `//iam.googleapis.com/${PROVIDER}`,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${world.fake.url}/sts/v1/token`,
        service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
        credential_source: { file: path },
      }),
    );
    expect(decodeJwt(await external.idToken!(world.audience, true))?.claims['email']).toBe(INVOKER);
    expect(asked()).toEqual(['sts', 'iam:generateIdToken']);
    await external.accessToken();
    expect(asked()).toEqual(['sts', 'iam:generateIdToken', 'iam:generateAccessToken']);
    expect(external.principal).toBe(INVOKER);
  });

  test('impersonated_service_account with a delegate: the key, then generateIdToken through the chain', async () => {
    // Only the chain is granted: without the delegate in the request, DEPLOYER could not reach INVOKER.
    world.fake.grant(RELAY, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
    world.fake.grant(INVOKER, `serviceAccount:${RELAY}`, TOKEN_CREATOR);
    const impersonated = credential(
      fromFile({
        type: 'impersonated_service_account',
        service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
        delegates: [`projects/-/serviceAccounts/${RELAY}`],
        source_credentials: world.deployerKey,
      }),
    );
    expect(decodeJwt(await impersonated.idToken!(world.audience, true))?.claims['email']).toBe(INVOKER);
    expect(asked()).toEqual(['oauth2', 'iam:generateIdToken']);
    expect(impersonated.principal).toBe(INVOKER);
  });

  test("impersonate() with delegates: one caller token serves generateIdToken and signJwt on the target's key", async () => {
    world.fake.grant(RELAY, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
    world.fake.grant(INVOKER, `serviceAccount:${RELAY}`, TOKEN_CREATOR);
    const { iam } = clients();
    const invoker = impersonate(credential(keySource()), { serviceAccount: INVOKER, delegates: [RELAY] }, iam, now);
    await invoker.idToken(world.audience, true);
    const jwt = await invoker.signJwt({ iss: INVOKER, sub: INVOKER, aud: world.fake.appUrl });
    expect(kidOf(jwt)).toBe(keyIdOf(INVOKER));
    expect(asked()).toEqual(['oauth2', 'iam:generateIdToken', 'iam:signJwt']);
  });

  test('impersonate() with a federated caller signs by generateAccessToken, then signJwt on the account itself', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, WORKLOAD_IDENTITY_USER);
    world.fake.grant(INVOKER, `serviceAccount:${INVOKER}`, TOKEN_CREATOR);
    const invoker = impersonate(credential(wifSource()), { serviceAccount: INVOKER, delegates: [] }, clients().iam, now);
    expect(kidOf(await invoker.signJwt({ iss: INVOKER, sub: INVOKER }))).toBe(keyIdOf(INVOKER));
    await invoker.signJwt({ iss: INVOKER, sub: INVOKER });
    expect(asked()).toEqual(['github', 'sts', 'iam:generateAccessToken', 'iam:signJwt', 'iam:signJwt']);
  });
});

// Proves: with one clock moved by hand, a cached access token is reused, renewed 5 minutes early, shared, and not kept on failure.
describe('renewing: an access token is reused until 5 minutes before expiry, fetched once at a time, failures forgotten', () => {
  test('a key: reused until expires_in (3599 s) minus 5 minutes, then fetched again', async () => {
    const key = credential(keySource());
    const first = await key.accessToken();
    clock += 3_298_000; // 301 s left
    expect(await key.accessToken()).toBe(first);
    expect(world.fake.count('oauth2')).toBe(1);
    clock += 2_000; // 299 s left
    const second = await key.accessToken();
    expect(second).not.toBe(first);
    expect(world.fake.count('oauth2')).toBe(2);
  });

  test('Workload Identity Federation: a renewal asks GitHub for a fresh OIDC token', async () => {
    const wif = credential(wifSource());
    await wif.accessToken();
    await wif.accessToken();
    expect(asked()).toEqual(['github', 'sts']);
    clock += 3_400_000;
    await wif.accessToken();
    expect(asked()).toEqual(['github', 'sts', 'github', 'sts']);
  });

  test('the metadata server: a renewal asks only for the token; the email is known', async () => {
    world.fake.metadata.serviceAccount = DEPLOYER;
    const vm = credential(metadataSource());
    await vm.accessToken();
    clock += 3_400_000;
    await vm.accessToken();
    expect(world.fake.requests.map((r) => r.path.split('/').pop()).sort()).toEqual(['email', 'token', 'token']);
  });

  test('concurrent callers share one fetch', async () => {
    const wif = credential(wifSource());
    const tokens = await Promise.all([wif.accessToken(), wif.accessToken(), wif.accessToken()]);
    expect(new Set(tokens).size).toBe(1);
    expect(asked()).toEqual(['github', 'sts']);
  });

  test('a failed fetch fails every caller waiting on it, and the next call fetches afresh', async () => {
    const wif: Credential = credential(wifSource());
    world.fake.inject('sts', { status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: 'ID Token expired.' }) });
    const failed = await Promise.allSettled([wif.accessToken(), wif.accessToken()]);
    expect(failed.map((r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.failure.code)).toEqual([
      'invalid_grant',
      'invalid_grant',
    ]);
    expect(asked()).toEqual(['github', 'sts']);
    expect(world.fake.accessTokens.has(await wif.accessToken())).toBe(true);
    expect(asked()).toEqual(['github', 'sts', 'github', 'sts']);
  });
});

// Proves: one minter, built from readConfig as the action builds it, mints twice for ID tokens and signed JWTs that IAP accepts.
describe('createMinter: one minter mints again and again (agent use), for ID tokens and signed JWTs', () => {
  const report = { info: (line: string) => void infos.push(line), warning: (line: string) => void warnings.push(line) };
  let infos: string[] = [];
  let warnings: string[] = [];
  beforeEach(() => {
    infos = [];
    warnings = [];
  });

  const minter = (values: Partial<Record<InputName, string>>) =>
    createMinter(
      readConfig((name) => values[name], env, ACTION_VOCABULARY),
      {
        env,
        report,
        http: new Http({ sleep: async () => undefined }),
        now,
      },
    );
  const iapStatus = async (token: string) => (await fetch(world.fake.appUrl, { headers: { authorization: `Bearer ${token}` } })).status;

  test('id_token from a key: a fresh token per mint (1 request each), each accepted by IAP', async () => {
    const agent = minter({ credentials_json: JSON.stringify(world.deployerKey), audience: world.audience });
    const [first, second] = [await agent.mint(), await agent.mint()];
    expect([first.kind, first.principal, first.audience, second.principal]).toEqual(['id_token', DEPLOYER, world.audience, DEPLOYER]);
    expect(asked()).toEqual(['oauth2', 'oauth2']);
    expect([await iapStatus(first.token), await iapStatus(second.token)]).toEqual([200, 200]);
    expect(infos[0]).toBe(`Credential: service-account key for ${DEPLOYER} (credentials_json).`);
    expect(warnings).toEqual([]);
  });

  test('signed_jwt from a key: signed locally, no request, accepted by IAP', async () => {
    const agent = minter({
      credentials_json: JSON.stringify(world.deployerKey),
      token_type: 'signed_jwt',
      audience: world.fake.appUrl,
    });
    const [first, second] = [await agent.mint(), await agent.mint()];
    expect([first.kind, first.principal, second.kind]).toEqual(['signed_jwt', DEPLOYER, 'signed_jwt']);
    expect(kidOf(first.token)).toBe(keyIdOf(DEPLOYER));
    expect(world.fake.count()).toBe(0);
    expect(await iapStatus(second.token)).toBe(200);
  });

  test('id_token through Workload Identity Federation: the federated token is reused by the second mint', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, WORKLOAD_IDENTITY_USER);
    const agent = minter({ workload_identity_provider: PROVIDER, service_account: INVOKER, audience: world.audience });
    expect([(await agent.mint()).principal, (await agent.mint()).principal]).toEqual([INVOKER, INVOKER]);
    expect(asked()).toEqual(['github', 'sts', 'iam:generateIdToken', 'iam:generateIdToken']);
  });

  test("signed_jwt through Workload Identity Federation: the account's access token is reused; signJwt per mint", async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, WORKLOAD_IDENTITY_USER);
    world.fake.grant(INVOKER, `serviceAccount:${INVOKER}`, TOKEN_CREATOR);
    const agent = minter({
      workload_identity_provider: PROVIDER,
      service_account: INVOKER,
      token_type: 'signed_jwt',
      audience: `${world.fake.url}/*`,
    });
    const [first, second] = [await agent.mint(), await agent.mint()];
    expect([first.principal, second.principal]).toEqual([INVOKER, INVOKER]);
    expect(asked()).toEqual(['github', 'sts', 'iam:generateAccessToken', 'iam:signJwt', 'iam:signJwt']);
    expect(await iapStatus(second.token)).toBe(200);
  });
});
