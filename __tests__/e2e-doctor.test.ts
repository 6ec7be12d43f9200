import { describe, expect, test } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DoctorReport } from '../src/doctor/report.ts';
import { claimsOf, closedPort, DEPLOYER, INVOKER, startCli, useCliWorkspace, useWorld, type CliEnd } from './e2e-helpers.ts';

/**
 * `iap-token doctor URL` and `iap-token token --url URL`, run from the bundle of the current src/ as npx would, against
 * the fake Google: /app (IAP on a custom OAuth client), /run (IAP directly on Cloud Run, on Google's managed client),
 * /direct (the Cloud Run service's own URL, no IAP) and IAP's admin API.
 */

const ACCESSOR = 'roles/iap.httpsResourceAccessor';
const SA_MEMBER = `serviceAccount:${DEPLOYER}`;
const ALLOWED_CLIENT = '42-allowed.apps.googleusercontent.com';
/** A JWT, whole or in part: none may ever show in what the doctor prints. */
const JWT = /eyJ[A-Za-z0-9_-]{10,}\./;

const world = useWorld();
const workspace = useCliWorkspace(world, 'iap-token-doctor-');

/** The CLI as a person runs it: HOME is a fresh folder, so no gcloud credentials of this machine are picked up. */
const cli = (args: readonly string[], env: Record<string, string> = {}): Promise<CliEnd> =>
  startCli(world, args, { home: workspace.dir, env, running: workspace.running, killAfterMs: 30_000 }).done;

/** Nothing secret in either stream: no JWT, and none of the credentials the fake handed out or was given. */
function expectNoSecrets(run: CliEnd): void {
  const both = `${run.stdout}\n${run.stderr}`;
  expect(both).not.toMatch(JWT);
  expect([...world.fake.secrets].filter((secret) => both.includes(secret)).map((secret) => `${secret.slice(0, 8)}…`)).toEqual([]);
}

/** `iap-token doctor …`, checked for secrets; the report on standard output, progress (and only progress) on standard error. */
async function doctor(args: readonly string[], env: Record<string, string> = {}): Promise<CliEnd> {
  const run = await cli(['doctor', ...args], env);
  expectNoSecrets(run);
  if (run.code === 0 || run.code === 1) {
    expect(run.stderr).toContain('Doctor: checking ');
    expect(run.stderr).not.toContain('Verdict');
    expect(run.stdout).not.toContain('Doctor: checking');
  }
  return run;
}

async function doctorJson(args: readonly string[], env: Record<string, string> = {}): Promise<{ run: CliEnd; report: DoctorReport }> {
  const run = await doctor([...args, '--json'], env);
  return { run, report: JSON.parse(run.stdout) as DoctorReport };
}

const withKey = (url: string, ...more: string[]): string[] => [url, '--credentials-file', workspace.keyPath, ...more];
const onRun = (...more: string[]): string[] => withKey(world.fake.runUrl, '--iap-resource', world.fake.runIap.resource, ...more);
const origin = (url: string): string => new URL(url).origin;
const texts = (report: DoctorReport, layer: number): string[] => (report.layers[layer]?.checks ?? []).map((check) => check.text);
const titles = (report: DoctorReport): string[] => report.problems.map((problem) => problem.title);

describe('iap-token doctor, on the app with a custom OAuth client', () => {
  test('with a key file: three layers, both token kinds pass, the verdict is a signed JWT for origin/*; settings are skipped', async () => {
    const { fake } = world;
    const run = await doctor(withKey(fake.appUrl));
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out.startsWith(`iap-token doctor ${fake.appUrl}\n`)).toBe(true);
    const first = out.indexOf('\n1. Without credentials');
    const second = out.indexOf("\n2. With the caller's credential: --credentials-file");
    const third = out.indexOf("\n3. IAP's settings");
    const verdict = out.indexOf('\nVerdict: ');
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(third).toBeGreaterThan(second);
    expect(verdict).toBeGreaterThan(third);
    expect(out).toContain(`   ✓ IAP answers for ${fake.appUrl}: its sign-in redirect (302).`);
    expect(out).toContain(`   · IAP signs people in with the OAuth client ${fake.iap.clientId}.`);
    expect(out).toContain(`   ✓ ID token for ${fake.iap.clientId}: IAP let it through; the app answered 200.`);
    expect(out).toContain(`   ✓ Signed JWT for ${origin(fake.appUrl)}/*: IAP let it through; the app answered 200.`);
    expect(out).toContain(`Sent: aud ${origin(fake.appUrl)}/*, email ${DEPLOYER}, exp `);
    expect(out).not.toContain('✗');
    // The settings layer: skipped, for the URL names no resource, saying how to name one.
    const settings = out.slice(third, verdict);
    expect(settings).toContain('– Skipped settings: the IAP resource is not known from the URL');
    expect(settings).toContain('--iap-resource');
    expect(settings).toContain('– Skipped IAM policy');
    expect(out.slice(verdict)).toBe(
      `\nVerdict: a signed JWT gets through IAP. Set --token-type signed_jwt and --audience ${origin(fake.appUrl)}/* (or leave both out with --url ${origin(fake.appUrl)}: auto picks the same). IAP took: a signed JWT, an ID token and an access token.\n`,
    );
    expect(out).toContain(
      `   ✓ Access token (openid, email): IAP let it through; the app answered 200. Sent: aud none (an access token), email ${DEPLOYER}, exp `,
    );
    expect(out).not.toContain('Problems');
    // Nothing was asked of IAP's admin API: there was no resource to ask about.
    expect(fake.count('iapAdmin')).toBe(0);
  });

  test('--json: the same report for machines, each trial with what was sent, and no problems', async () => {
    const { fake } = world;
    const { run, report } = await doctorJson(withKey(fake.appUrl));
    expect(run.code).toBe(0);
    expect(run.stdout.trimStart().startsWith('{')).toBe(true);
    expect(report.url).toBe(fake.appUrl);
    expect(report.layers).toHaveLength(3);
    expect(report.verdict).toMatchObject({ works: true, tokenType: 'signed_jwt', audience: `${origin(fake.appUrl)}/*` });
    expect(report.problems).toEqual([]);
    expect(report.trials.map((trial) => [trial.kind, trial.outcome, trial.status, trial.from])).toEqual([
      ['id_token', 'passed', 200, 'app'],
      ['signed_jwt', 'passed', 200, 'app'],
      ['access_token', 'passed', 200, 'app'],
    ]);
    const [idToken, signedJwt] = report.trials;
    expect(idToken?.sent).toEqual({
      aud: fake.iap.clientId,
      email: DEPLOYER,
      exp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    expect(signedJwt?.sent).toEqual({
      aud: `${origin(fake.appUrl)}/*`,
      email: DEPLOYER,
      exp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    // Each trial reached the app with its token; the probe reached IAP without one.
    expect(fake.appRequests).toHaveLength(3);
    expect(fake.appRequests.every((request) => request.path === '/app')).toBe(true);
  });

  test("a user's refresh token: no signed JWT (a user cannot sign), the ID token for the sign-in client passes", async () => {
    const { fake } = world;
    const alice = fake.addUser('alice@example.com');
    fake.allow('user:alice@example.com');
    const run = await doctor([fake.appUrl, '--client-id', alice.clientId], {
      IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: alice.clientSecret,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("2. With the caller's credential: --refresh-token");
    expect(run.stdout).toContain(
      `   ✓ ID token for ${fake.iap.clientId}: IAP let it through; the app answered 200. Sent: aud ${fake.iap.clientId}, email alice@example.com, exp `,
    );
    expect(run.stdout).toContain(
      `   – Signed JWT for ${origin(fake.appUrl)}/*: not minted: a user's refresh token cannot sign a JWT (only a service account can): set --service-account`,
    );
    expect(run.stdout).toContain(
      `Verdict: a Google-signed ID token gets through IAP. Set --audience ${fake.iap.clientId} (--token-type auto then mints an ID token).`,
    );
    expect(run.stdout).not.toContain('Problems');
    // The ID token and the access token (the refresh grant's own, from a sign-in with openid email) both got through.
    expect(run.stdout).toContain('IAP took: an ID token and an access token.');
    expect(fake.appRequests).toHaveLength(2);

    const { report } = await doctorJson([fake.appUrl, '--client-id', alice.clientId], {
      IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: alice.clientSecret,
    });
    expect(report.verdict).toMatchObject({ works: true, tokenType: 'id_token', audience: fake.iap.clientId });
    expect(report.trials.map((trial) => [trial.kind, trial.outcome])).toEqual([
      ['id_token', 'passed'],
      ['signed_jwt', 'not-minted'],
      ['access_token', 'passed'],
    ]);
    expect(report.trials[1]?.sent).toBeUndefined();
  });

  test("a user who may not pass: IAP refuses the ID token with 403, and the fix grants the user's member", async () => {
    const { fake } = world;
    const bob = fake.addUser('bob@example.com');
    const { run, report } = await doctorJson([fake.appUrl, '--client-id', bob.clientId], {
      IAP_TOKEN_REFRESH_TOKEN: bob.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: bob.clientSecret,
    });
    expect(run.code).toBe(1);
    expect(report.verdict.works).toBe(false);
    expect(report.trials[0]).toMatchObject({ kind: 'id_token', outcome: 'refused', status: 403, from: 'iap' });
    const access = report.problems.find((problem) => problem.title === 'No access through IAP for bob@example.com');
    expect(access?.gcloud).toContain('--member=user:bob@example.com --role=roles/iap.httpsResourceAccessor');
  });
});

describe("iap-token doctor, on Cloud Run with IAP on Google's managed OAuth client", () => {
  test('not allowed and no read access: the accessor problem with gcloud and Terraform; the managed client is a note; exit 1', async () => {
    const { fake } = world;
    const { run, report } = await doctorJson(onRun());
    expect(run.code).toBe(1);
    // JSON leaves out what is undefined: no token type, no audience.
    expect(report.verdict).toEqual({ works: false, text: expect.stringContaining('no token got through IAP') });
    expect(report.resource).toBe(`a Cloud Run service with IAP on it directly (${fake.runIap.resource})`);
    expect(report.trials.map((trial) => [trial.kind, trial.audience, trial.outcome, trial.status, trial.from])).toEqual([
      ['id_token', fake.runIap.clientId, 'refused', 401, 'iap'],
      ['signed_jwt', `${origin(fake.runUrl)}/*`, 'refused', 403, 'iap'],
      ['access_token', '', 'refused', 403, 'iap'],
    ]);
    // IAP accepted the signed JWT and refused only its principal: that is the problem to fix; the ID token's audience
    // trouble (the managed client) is shown in layer 2, not listed as a problem.
    expect(titles(report)).toEqual([`No access through IAP for ${DEPLOYER}`]);
    expect(texts(report, 1)[0]).toContain('Invalid JWT audience');
    const [access] = report.problems;
    expect(access?.gcloud).toBe(
      `gcloud iap web add-iam-policy-binding --resource-type=cloud-run --service=hello --region=europe-west1 --project=123456789012 --member=${SA_MEMBER} --role=${ACCESSOR}`,
    );
    expect(access?.terraform).toBe(
      [
        'resource "google_iap_web_cloud_run_service_iam_member" "iap_access" {',
        '  project                = "123456789012"',
        '  location               = "europe-west1"',
        '  cloud_run_service_name = "hello"',
        `  role                   = "${ACCESSOR}"`,
        `  member                 = "${SA_MEMBER}"`,
        '}',
      ].join('\n'),
    );
    expect(texts(report, 2)).toEqual([
      `Settings not readable: it needs iap.webServices.getSettings on ${fake.runIap.resource} (HTTP 403).`,
      `IAM policy not readable: it needs iap.webServices.getIamPolicy on ${fake.runIap.resource} (HTTP 403).`,
    ]);
    expect(report.layers[2]?.checks.every((check) => check.status === 'skipped')).toBe(true);

    // The same as text: the fixes indented under each problem.
    const text = await doctor(onRun());
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`Problems (1):\n1. No access through IAP for ${DEPLOYER}: IAP accepted the token and refused`);
    expect(text.stdout).toContain(
      '   gcloud:\n     gcloud iap web add-iam-policy-binding --resource-type=cloud-run --service=hello --region=europe-west1',
    );
    expect(text.stdout).toContain('   Terraform:\n     resource "google_iap_web_cloud_run_service_iam_member" "iap_access" {');
    expect(text.stdout).toContain(`   – Settings not readable: it needs iap.webServices.getSettings on ${fake.runIap.resource}`);
  });

  test('a user on the managed client: no ID token for that client, no signature, and the access token gets through', async () => {
    const { fake } = world;
    const alice = fake.addUser('alice@example.com');
    fake.allowRun('user:alice@example.com');
    const args = [fake.runUrl, '--iap-resource', fake.runIap.resource, '--client-id', alice.clientId];
    const env = { IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken, IAP_TOKEN_CLIENT_SECRET: alice.clientSecret };
    const { run, report } = await doctorJson(args, env);
    expect(run.code).toBe(0);
    expect(report.trials.map((trial) => [trial.kind, trial.outcome])).toEqual([
      ['id_token', 'not-minted'],
      ['signed_jwt', 'not-minted'],
      ['access_token', 'passed'],
    ]);
    expect(report.verdict).toMatchObject({ works: true, tokenType: 'access_token' });
    expect(report.verdict.text).toBe(
      `an access token gets through IAP. Set --token-type access_token (no audience; or leave it auto with --url ${origin(fake.runUrl)}, which falls back to one). IAP took: an access token.`,
    );
    expect(report.problems).toEqual([]);
    expect(fake.appRequests.map((request) => request.path)).toEqual(['/run']);
  });

  test('the same where the app takes no access tokens: that is told, not a problem; the two others say why', async () => {
    const { fake } = world;
    const alice = fake.addUser('alice@example.com');
    fake.allowRun('user:alice@example.com');
    fake.runIap.acceptsAccessTokens = false;
    const args = [fake.runUrl, '--iap-resource', fake.runIap.resource, '--client-id', alice.clientId];
    const env = { IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken, IAP_TOKEN_CLIENT_SECRET: alice.clientSecret };
    const { run, report } = await doctorJson(args, env);
    expect(run.code).toBe(1);
    expect(report.trials.map((trial) => [trial.kind, trial.outcome, trial.status])).toEqual([
      ['id_token', 'not-minted', null],
      ['signed_jwt', 'not-minted', null],
      ['access_token', 'refused', 401],
    ]);
    expect(titles(report)).toEqual(['Could not mint an ID token', 'Could not mint a signed JWT']);
    expect(report.problems[0]?.why).toContain('invalid_audience');
    expect(report.problems[1]?.why).toContain('--service-account');
    expect(report.verdict.text).toContain('; this app does not take access tokens.');
    const line = report.layers[1]?.checks[2];
    expect(line?.status).toBe('info');
    expect(line?.text).toContain(
      'Access token (openid, email): IAP refused it: "Invalid IAP credentials: Unable to parse JWT". This app does not take access tokens',
    );
    expect(fake.appRequests).toEqual([]);
  });

  test("an ID token for the managed client is refused for its audience: the fix allowlists a client; signJwt's refusal has its own", async () => {
    const { fake } = world;
    // The deployer may mint INVOKER's ID tokens (getOpenIdToken) but not sign as it: only the ID token is tried.
    fake.grant(INVOKER, SA_MEMBER, 'roles/iam.serviceAccountOpenIdTokenCreator');
    fake.allowRun(`serviceAccount:${INVOKER}`);
    const { run, report } = await doctorJson(onRun('--service-account', INVOKER));
    expect(run.code).toBe(1);
    expect(report.layers[1]?.title).toBe(`With the caller's credential: --credentials-file, as ${INVOKER}`);
    expect(report.trials.map((trial) => [trial.kind, trial.audience, trial.outcome, trial.status])).toEqual([
      ['id_token', fake.runIap.clientId, 'refused', 401],
      ['signed_jwt', `${origin(fake.runUrl)}/*`, 'not-minted', null],
      ['access_token', '', 'not-minted', null],
    ]);
    expect(report.trials[0]?.sent).toMatchObject({ aud: fake.runIap.clientId, email: INVOKER });
    expect(titles(report)).toEqual([
      "IAP refuses ID tokens for its own sign-in client (Google's managed OAuth client)",
      'Could not mint a signed JWT',
    ]);
    const [managed, mint] = report.problems;
    expect(managed?.why).toContain(`The ID token was for ${fake.runIap.clientId}`);
    expect(managed?.gcloud).toBe(
      [
        "cat > iap-settings.yaml <<'YAML'",
        'accessSettings:',
        '  oauthSettings:',
        '    programmaticClients:',
        '    - YOUR_CLIENT_ID.apps.googleusercontent.com',
        'YAML',
        'gcloud iap settings set iap-settings.yaml --resource-type=cloud-run --service=hello --region=europe-west1 --project=123456789012',
      ].join('\n'),
    );
    expect(managed?.terraform).toContain(`name = "${fake.runIap.resource}"`);
    expect(managed?.terraform).toContain('programmatic_clients = ["YOUR_CLIENT_ID.apps.googleusercontent.com"]');
    expect(mint?.gcloud).toBe(
      `gcloud iam service-accounts add-iam-policy-binding ${INVOKER} --member='${SA_MEMBER}' --role=roles/iam.serviceAccountTokenCreator`,
    );
    expect(mint?.terraform).toBe(
      [
        'resource "google_service_account_iam_member" "token_creator" {',
        `  service_account_id = "projects/-/serviceAccounts/${INVOKER}"`,
        '  role               = "roles/iam.serviceAccountTokenCreator"',
        `  member             = "${SA_MEMBER}"`,
        '}',
      ].join('\n'),
    );
    // Reading IAP's settings needs an access token as INVOKER, which the deployer may not get: skipped, saying why.
    expect(texts(report, 2)[0]).toMatch(/^Skipped \(needs iap\.webServices\.getSettings\): .*getAccessToken/);
  });

  test('allowed, with roles/iap.admin: a signed JWT passes; the settings show the managed client, the policy the grant', async () => {
    const { fake } = world;
    fake.allowRun(SA_MEMBER);
    fake.grant(fake.runIap.resource, SA_MEMBER, 'roles/iap.admin');
    const { run, report } = await doctorJson(onRun());
    expect(run.code).toBe(0);
    expect(report.verdict).toMatchObject({ works: true, tokenType: 'signed_jwt', audience: `${origin(fake.runUrl)}/*` });
    expect(report.verdict.text).toContain('a signed JWT gets through IAP. Set --token-type signed_jwt');
    // The ID token for the managed client is refused, but once a kind works that is a note, not a problem.
    expect(report.trials.map((trial) => trial.outcome)).toEqual(['refused', 'passed', 'passed']);
    expect(report.problems).toEqual([]);
    expect(texts(report, 2)).toEqual([
      "IAP uses Google's managed OAuth client: it accepts no programmatic ID token for it, only for clients on programmaticClients (or a signed JWT).",
      'programmaticClients: none.',
      `${SA_MEMBER} holds ${ACCESSOR}. ${ACCESSOR} holders: ${SA_MEMBER}.`,
    ]);
    expect(report.layers[2]?.checks.map((check) => check.status)).toEqual(['info', 'info', 'ok']);
    expect(fake.count('iapAdmin')).toBe(2);
  });

  test("IAP's service agent without roles/run.invoker: Cloud Run's own 403, and the gcloud line that grants it", async () => {
    const { fake } = world;
    fake.runIap.invokerGranted = false;
    fake.allowRun(SA_MEMBER);
    const { run, report } = await doctorJson(onRun());
    expect(run.code).toBe(1);
    expect(report.trials[1]).toMatchObject({ kind: 'signed_jwt', outcome: 'refused', status: 403, from: 'app' });
    const invoker = report.problems.find((problem) => problem.title === 'The service behind IAP refuses IAP');
    expect(invoker?.gcloud).toBe(
      'gcloud run services add-iam-policy-binding hello --region=europe-west1 --member=serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com --role=roles/run.invoker',
    );
    expect(invoker?.terraform).toContain('resource "google_cloud_run_v2_service_iam_member" "iap_invoker" {');
    // IAP let the token through: it is not a missing accessor.
    expect(titles(report)).not.toContain(`No access through IAP for ${DEPLOYER}`);
  });

  test('an allowlisted programmatic client, read from the settings, is tried, and its ID token passes', async () => {
    const { fake } = world;
    fake.runIap.programmaticClients.push(ALLOWED_CLIENT);
    fake.allowRun(SA_MEMBER);
    fake.grant(fake.runIap.resource, SA_MEMBER, 'roles/iap.settingsAdmin');
    const { run, report } = await doctorJson(onRun());
    expect(run.code).toBe(0);
    expect(report.trials.map((trial) => [trial.kind, trial.audience, trial.outcome])).toEqual([
      ['id_token', fake.runIap.clientId, 'refused'],
      ['id_token', ALLOWED_CLIENT, 'passed'],
      ['signed_jwt', `${origin(fake.runUrl)}/*`, 'passed'],
      ['access_token', '', 'passed'],
    ]);
    expect(report.trials[1]?.sent).toMatchObject({ aud: ALLOWED_CLIENT, email: DEPLOYER });
    expect(texts(report, 2)).toContain(`programmaticClients: ${ALLOWED_CLIENT}.`);
    // roles/iap.settingsAdmin reads the settings only: the policy read is skipped with the permission it needs.
    expect(texts(report, 2)).toContain(
      `IAM policy not readable: it needs iap.webServices.getIamPolicy on ${fake.runIap.resource} (HTTP 403).`,
    );
    expect(report.problems).toEqual([]);
  });

  test("a user's --audience of an allowlisted client is tried first; its ID token is the verdict, the signed JWT not minted", async () => {
    const { fake } = world;
    fake.runIap.programmaticClients.push(ALLOWED_CLIENT);
    const alice = fake.addUser('alice@example.com');
    fake.allowRun('user:alice@example.com');
    const { run, report } = await doctorJson(
      [fake.runUrl, '--iap-resource', fake.runIap.resource, '--client-id', alice.clientId, '--audience', ALLOWED_CLIENT],
      { IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken, IAP_TOKEN_CLIENT_SECRET: alice.clientSecret },
    );
    expect(run.code).toBe(0);
    expect(report.trials.map((trial) => [trial.kind, trial.audience, trial.outcome])).toEqual([
      ['id_token', ALLOWED_CLIENT, 'passed'],
      ['signed_jwt', `${origin(fake.runUrl)}/*`, 'not-minted'],
      ['access_token', '', 'passed'],
    ]);
    expect(report.trials[0]?.sent).toMatchObject({ aud: ALLOWED_CLIENT, email: 'alice@example.com' });
    expect(report.verdict).toMatchObject({ works: true, tokenType: 'id_token', audience: ALLOWED_CLIENT });
    expect(report.verdict.text).toContain(`Set --audience ${ALLOWED_CLIENT}`);
    expect(report.problems).toEqual([]);
  });
});

describe('iap-token doctor --also: other URLs of the app must not answer without IAP', () => {
  test('an open run.app URL is a way around IAP; it is sent no credential', async () => {
    const { fake } = world;
    fake.direct.open = true;
    const { run, report } = await doctorJson(withKey(fake.appUrl, '--also', fake.directUrl));
    // A token still gets through IAP: exit 0, with the problem reported.
    expect(run.code).toBe(0);
    expect(texts(report, 0)).toContain(`${fake.directUrl} answered 200 without credentials and without IAP: a way around IAP.`);
    expect(titles(report)).toEqual([`A way around IAP: ${fake.directUrl}`]);
    expect(report.problems[0]?.gcloud).toContain('--ingress=internal-and-cloud-load-balancing');
    expect(report.problems[0]?.gcloud).toContain('remove-iam-policy-binding');
    expect(fake.directRequests).toHaveLength(1);
    expect(fake.directRequests[0]).toMatchObject({ path: '/direct', authorization: null, proxyAuthorization: null });
  });

  test('a closed run.app URL, and another URL behind IAP, are fine; --also repeats', async () => {
    const { fake } = world;
    fake.direct.open = false;
    const { run, report } = await doctorJson(withKey(fake.appUrl, '--also', fake.directUrl, '--also', fake.runUrl));
    expect(run.code).toBe(0);
    const outside = report.layers[0]?.checks ?? [];
    expect(outside).toContainEqual({
      status: 'ok',
      text: `${fake.directUrl} refuses a stranger (403) without IAP: not a way around it.`,
    });
    expect(outside).toContainEqual({ status: 'ok', text: `${fake.runUrl} answers through IAP too (302).` });
    expect(outside.filter((check) => check.status === 'problem')).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(fake.directRequests).toEqual([expect.objectContaining({ authorization: null, proxyAuthorization: null })]);
  });
});

describe('iap-token doctor: what it must not do, and credentials that cannot do everything', () => {
  test('a URL without IAP in front gets no token at all: no trial, exit 1, the problem says IAP is not in front', async () => {
    const { fake } = world;
    fake.direct.open = true;
    const { run, report } = await doctorJson(withKey(fake.directUrl, '--audience', fake.iap.clientId));
    expect(run.code).toBe(1);
    expect(report.trials).toEqual([]);
    expect(texts(report, 1)).toEqual([expect.stringContaining('No token was minted or sent: IAP does not answer for this URL')]);
    expect(titles(report)).toContain('IAP is not in front of the app');
    expect(report.verdict.works).toBe(false);
    expect(fake.directRequests.map((request) => [request.authorization, request.proxyAuthorization])).toEqual([[null, null]]);
    expect(fake.count('oauth2')).toBe(0);
  });

  test('a key without private_key_id: the signed JWT is not minted (and says why), the ID token passes; token --url mints an ID token', async () => {
    const { fake } = world;
    const { private_key_id: _kid, ...keyless } = world.deployerKey;
    const path = join(workspace.dir, 'no-kid.json');
    writeFileSync(path, JSON.stringify(keyless));
    const { run, report } = await doctorJson([fake.appUrl, '--credentials-file', path]);
    expect(run.code).toBe(0);
    expect(report.trials.map((trial) => [trial.kind, trial.outcome])).toEqual([
      ['id_token', 'passed'],
      ['signed_jwt', 'not-minted'],
      ['access_token', 'passed'],
    ]);
    expect(report.trials[1]?.why).toContain('no private_key_id');
    const token = await cli(['token', '--url', fake.appUrl, '--credentials-file', path]);
    expect(token.code).toBe(0);
    expect(claimsOf(token.stdout.trim())).toMatchObject({ aud: fake.iap.clientId });
    expect(token.stderr).toContain(
      '--token-type auto: id_token, because a key without private_key_id (--credentials-file) cannot sign a JWT',
    );
  });

  test("a user's token without the cloud-platform scope: the settings layer says so, not that a role is missing", async () => {
    const { fake } = world;
    const user = fake.addUser('scopeless@example.com');
    fake.allow('user:scopeless@example.com');
    fake.grant(fake.iap.resource, 'user:scopeless@example.com', 'roles/iap.admin');
    const { report } = await doctorJson([fake.appUrl, '--client-id', user.clientId, '--iap-resource', fake.iap.resource], {
      IAP_TOKEN_REFRESH_TOKEN: user.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: user.clientSecret,
    });
    expect(texts(report, 2).join('\n')).toContain("the credential's access token lacks the cloud-platform scope");
    expect(texts(report, 2).join('\n')).not.toContain('it needs iap.webServices');
  });
});

describe('iap-token doctor: usage and an app that does not answer', () => {
  test('no URL, a URL that is not one, a bogus --iap-resource: exit 2, the error on standard error', async () => {
    const none = await doctor([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain("iap-token doctor: give the app's URL");
    expect(none.stderr).toContain('Usage: iap-token doctor URL');

    const notUrl = await doctor(['notaurl', '--credentials-file', workspace.keyPath]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stdout).toBe('');
    expect(notUrl.stderr).toMatch(/^iap-token doctor: --url: must be the https URL of the app behind IAP/);

    const bogus = await doctor(withKey(world.fake.appUrl, '--iap-resource', 'bogus'));
    expect(bogus.code).toBe(2);
    expect(bogus.stdout).toBe('');
    expect(bogus.stderr).toMatch(/^iap-token doctor: --iap-resource: must be an IAP resource name/);

    const twice = await doctor([world.fake.appUrl, '--url', world.fake.runUrl]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('give the URL once');
    // None of these asked anything of anyone.
    expect(world.fake.count()).toBe(0);
  });

  test('--url works as well as the positional URL', async () => {
    const run = await doctor(['--url', world.fake.appUrl, '--credentials-file', workspace.keyPath]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`iap-token doctor ${world.fake.appUrl}\n`);
  });

  test('nothing listens at the URL: exit 1, it "did not answer", within a bounded time', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/app`;
    const { run, report } = await doctorJson(withKey(url));
    expect(run.code).toBe(1);
    expect(run.ms).toBeLessThan(10_000);
    expect(report.layers[0]?.checks[0]).toMatchObject({ status: 'problem', text: expect.stringContaining(`${url} did not answer`) });
    expect(titles(report)).toContain('The app did not answer');
    expect(report.verdict.works).toBe(false);
    expect(report.trials.every((trial) => trial.outcome !== 'passed')).toBe(true);
    expect(report.problems.find((problem) => problem.title === 'The app did not answer')?.why).toContain(
      'Check the URL, DNS and any proxy',
    );
  });
});

describe('iap-token token --url', () => {
  test("with a key: a signed JWT for every path of the URL's origin, minted without asking the app", async () => {
    const { fake } = world;
    const run = await cli(['token', '--url', fake.appUrl, '--credentials-file', workspace.keyPath]);
    expect(run.code).toBe(0);
    const token = run.stdout.trim();
    expect(token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(claimsOf(token)).toMatchObject({ aud: `${origin(fake.appUrl)}/*`, iss: DEPLOYER, sub: DEPLOYER });
    expect(run.stderr).not.toMatch(JWT);
    expect(run.stderr).toContain(`Token: --token-type auto: signed_jwt for ${origin(fake.appUrl)}/* (from --url)`);
    expect(fake.count('iap')).toBe(0);
    // IAP takes it.
    const response = await fetch(`${fake.appUrl}/healthz`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
    expect(response.status).toBe(200);
  });

  test("with a user's refresh token: an ID token for the client IAP's sign-in names, found with one request without a token", async () => {
    const { fake } = world;
    const alice = fake.addUser('alice@example.com');
    const run = await cli(['token', '--url', fake.appUrl, '--client-id', alice.clientId], {
      IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: alice.clientSecret,
    });
    expect(run.code).toBe(0);
    const token = run.stdout.trim();
    expect(claimsOf(token)).toMatchObject({ aud: fake.iap.clientId, email: 'alice@example.com' });
    expect(run.stderr).not.toMatch(JWT);
    expect(run.stderr).not.toContain(alice.refreshToken);
    expect(run.stderr).toContain(`Audience: ${fake.iap.clientId}`);
    expect(fake.count('iap')).toBe(1);
    expect(fake.appRequests).toEqual([]);
  });

  test("with a user's refresh token and --url on a URL that is not behind IAP: no audience can be found, exit 1", async () => {
    const { fake } = world;
    const alice = fake.addUser('alice@example.com');
    const run = await cli(['token', '--url', fake.directUrl, '--client-id', alice.clientId], {
      IAP_TOKEN_REFRESH_TOKEN: alice.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: alice.clientSecret,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('No audience was given, and none could be found');
    expect(run.stderr).toContain('--audience');
    expect(fake.directRequests).toEqual([expect.objectContaining({ authorization: null, proxyAuthorization: null })]);
  });
});
