import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeaks, unmasked } from '../test-bed/runner.ts';
import { CLOUD_PLATFORM, TOKEN_CREATOR, DEPLOYER, INVOKER, PROVIDER, RELAY, REPO_MEMBER, runUnchecked, useWorld } from './e2e-helpers.ts';

/**
 * The leak audit: every scenario, successes and failures, with and without RUNNER_DEBUG=1. Nothing secret may show in
 * the log as a person sees it (masks count from their line on), the step summary, GITHUB_STATE, stderr, or any output
 * or variable but the token's own; and every credential the run received must have been masked.
 */
let dir: string;
const world = useWorld((w) => {
  dir = mkdtempSync(join(tmpdir(), 'iap-token-audit-'));
  const fake = w.fake;
  fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
  fake.grant(INVOKER, `serviceAccount:${INVOKER}`, TOKEN_CREATOR);
  fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
  fake.grant(RELAY, `serviceAccount:${DEPLOYER}`, TOKEN_CREATOR);
  fake.grant(INVOKER, `serviceAccount:${RELAY}`, TOKEN_CREATOR);
  fake.grant(INVOKER, 'user:alice@example.com', TOKEN_CREATOR);
  fake.metadata.serviceAccount = DEPLOYER;
  fake.allow('user:alice@example.com');
});

type Scenario = [name: string, outcome: 'succeeds' | 'fails', inputs: () => Record<string, string>, env?: () => Record<string, string>];

function file(name: string, json: unknown): Record<string, string> {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(json));
  return { GOOGLE_APPLICATION_CREDENTIALS: path };
}

const aud = () => world.audience;
const key = () => JSON.stringify(world.deployerKey);
const user = () => world.fake.addUser('alice@example.com', ['openid', 'email', CLOUD_PLATFORM]);
const refresh = () => {
  const u = user();
  return { refresh_token: u.refreshToken, oauth_client_id: u.clientId, oauth_client_secret: u.clientSecret };
};
const wif = () => ({ workload_identity_provider: PROVIDER, service_account: INVOKER });
const metadata = () => ({ GCE_METADATA_HOST: world.fake.metadataHost });
const app = (path: string) => `${world.fake.appUrl}${path}`;

const scenarios: Scenario[] = [
  ['key', 'succeeds', () => ({ audience: aud(), credentials_json: key() })],
  ['key as base64', 'succeeds', () => ({ audience: aud(), credentials_json: Buffer.from(key()).toString('base64') })],
  ['key + delegates', 'succeeds', () => ({ audience: aud(), credentials_json: key(), service_account: INVOKER, delegates: RELAY })],
  ['WIF', 'succeeds', () => ({ audience: aud(), ...wif() })],
  ['metadata', 'succeeds', () => ({ audience: aud() }), metadata],
  ['metadata + service_account', 'succeeds', () => ({ audience: aud(), service_account: INVOKER }), metadata],
  ['refresh token', 'succeeds', () => ({ audience: aud(), ...refresh() })],
  ['refresh token + service_account', 'succeeds', () => ({ audience: aud(), ...refresh(), service_account: INVOKER })],
  [
    'ADC authorized_user',
    'succeeds',
    () => ({ audience: aud() }),
    () => {
      const u = user();
      return file('user.json', {
        type: 'authorized_user',
        client_id: u.clientId,
        client_secret: u.clientSecret,
        refresh_token: u.refreshToken,
      });
    },
  ],
  [
    'ADC external_account (URL source, impersonation)',
    'succeeds',
    () => ({ audience: aud() }),
    () => ({
      ...file('ext.json', {
        type: 'external_account',
        audience: `//iam.googleapis.com/${PROVIDER}`,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${world.fake.url}/sts/v1/token`,
        service_account_impersonation_url: `${world.fake.url}/iamcredentials/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
        credential_source: {
          url: `${world.fake.url}/github/oidc?api-version=2.0&audience=${encodeURIComponent(`https://iam.googleapis.com/${PROVIDER}`)}`,
          headers: { Authorization: `Bearer ${world.fake.githubRequestToken}` },
          format: { type: 'json', subject_token_field_name: 'value' },
        },
      }),
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: '',
    }),
  ],
  [
    'impersonated_service_account',
    'succeeds',
    () => ({
      audience: aud(),
      credentials_json: JSON.stringify({
        type: 'impersonated_service_account',
        service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
        source_credentials: world.deployerKey,
      }),
    }),
  ],
  ['signed JWT from a key', 'succeeds', () => ({ audience: app('/*'), token_type: 'signed_jwt', credentials_json: key() })],
  ['signed JWT through WIF', 'succeeds', () => ({ audience: app('/*'), token_type: 'signed_jwt', ...wif() })],
  [
    'signed JWT from the metadata server',
    'succeeds',
    () => ({ audience: app('/*'), token_type: 'signed_jwt', service_account: INVOKER }),
    metadata,
  ],
  [
    "smoke tests with proxy-authorization and the app's own credential",
    'succeeds',
    () => ({
      audience: aud(),
      credentials_json: key(),
      smoke_test_urls: `${app('/a')}\nPOST ${app('/b')}`,
      smoke_test_header: 'proxy-authorization',
      smoke_test_headers: 'Authorization: Bearer app-own-secret-credential\nX-Api-Key: another-app-secret',
    }),
  ],
  [
    'IAM permission denied',
    'fails',
    () => ({ audience: aud(), credentials_json: key(), service_account: 'nobody@my-project.iam.gserviceaccount.com' }),
  ],
  ["STS refuses GitHub's token", 'fails', () => ({ audience: aud(), ...wif(), workload_identity_audience: 'https://wrong.example.com' })],
  [
    'a revoked refresh token',
    'fails',
    () => {
      const r = refresh();
      world.fake.refreshTokens.delete(r.refresh_token);
      return { audience: aud(), ...r };
    },
  ],
  [
    'smoke test IAP refuses (audience)',
    'fails',
    () => ({
      audience: '999-other.apps.googleusercontent.com',
      token_type: 'id_token',
      credentials_json: key(),
      smoke_test_urls: app('/x'),
    }),
  ],
  [
    'smoke test the app refuses',
    'fails',
    () => ({
      audience: aud(),
      credentials_json: key(),
      smoke_test_urls: app('/status/403'),
      smoke_test_headers: 'Cookie: session=very-secret-cookie',
    }),
  ],
  ['credentials_json that is not JSON', 'fails', () => ({ audience: aud(), credentials_json: 'not json but a secret 0123456789' })],
  [
    'no OIDC variables',
    'fails',
    () => ({ audience: aud(), ...wif() }),
    () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' }),
  ],
];

/** Values handed to the action in inputs that are secret: each must be masked or never shown. */
const APP_SECRETS = ['app-own-secret-credential', 'another-app-secret', 'very-secret-cookie', 'not json but a secret 0123456789'];

describe('leak audit', () => {
  const figures = { runs: 0, received: 0, leaks: [] as string[] };
  // The summary counts what the runs showed, and the suite fails if anything leaked, even if a test's own assertions
  // were somehow skipped or weakened.
  afterAll(() => {
    // The count is checked, not printed: a passing npm test shows no figures (those belong to npm run bench).
    expect(figures.leaks).toEqual([]);
    expect(figures.runs).toBe(scenarios.length * 2);
    expect(figures.received).toBeGreaterThan(figures.runs);
  });

  test.each(
    scenarios.flatMap(([name, outcome, inputs, env]) => [false, true].map((debug) => [name, debug, outcome, inputs, env] as const)),
  )('%s (RUNNER_DEBUG=%s)', async (name, debug, outcome, inputs, env) => {
    const given = inputs();
    const result = await runUnchecked(world, given, { debug, env: env?.() ?? {} });
    // Counted before anything is asserted, so that a failing run's leaks are in the summary too. One set of secrets:
    // what run() checks (the fake's, the key given) and the app's own, each secret once.
    const secrets = new Set([...world.fake.secrets, given['credentials_json'] ?? '', ...APP_SECRETS].filter(Boolean));
    const found = [...findLeaks(result, secrets), ...unmasked(result, result.received).map((secret) => `${secret} was never masked`)];
    figures.runs++;
    figures.received += result.received.length;
    figures.leaks.push(...found.map((leak) => `${name} (RUNNER_DEBUG=${debug}): ${leak}`));
    // What run() checks on every run:
    expect(result.leaks).toEqual([]);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(outcome === 'succeeds' ? 0 : 1);
    // The app's own secrets too:
    expect(findLeaks(result, [...world.fake.secrets, ...APP_SECRETS])).toEqual([]);
    expect(unmasked(result, result.received)).toEqual([]);
    expect(result.state).toBe('');
    if (outcome === 'fails') expect([result.outputs, result.exportedEnv]).toEqual([{}, {}]);
  });
});
