import { beforeEach, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { runJob } from '../test-bed/runner.ts';
import { agentState, claimsOf, DEPLOYER, expectFailure, expectSuccess, run, useWorld } from './e2e-helpers.ts';

// token_type auto (the default), an audience found from the app's URL, DENY lines, and doctor: true, as the runner
// runs the action built from the current sources.

const world = useWorld();
beforeEach(() => {
  world.fake.grants.length = 0;
});

const key = () => JSON.stringify(world.deployerKey);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const USER = 'alice@example.com';
const origin = () => world.fake.url;
/** The summary as a person reads it: the entities escapeHtml wrote turned back into characters. */
const readable = (summary: string) => summary.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
const doctorSection = (summary: string) => summary.slice(summary.indexOf('<h3>IAP doctor'), summary.indexOf('</pre>') + 6);

describe('token_type auto', () => {
  test('no audience, a smoke-tested URL: a signed JWT for every path of its host, and the log says why', async () => {
    const result = await run(world, { credentials_json: key(), smoke_test_urls: `${world.fake.appUrl}/healthz` });
    expectSuccess(result);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ aud: `${origin()}/*`, iss: DEPLOYER });
    const log = result.visibleLog.join('\n');
    expect(log).toContain(`token_type auto: signed_jwt for ${origin()}/* (from smoke_test_urls)`);
    expect(log).toContain("it works for apps on Google's managed client too");
    // A signed JWT names its own audience: no probe of the app was needed to choose it.
    expect(world.fake.appRequests.map((request) => request.path)).toEqual(['/app/healthz']);
  });

  test("a user's refresh token and app_url: an ID token for the client IAP's sign-in redirect names", async () => {
    const user = world.fake.addUser(USER);
    world.fake.allow(`user:${USER}`);
    const result = await run(world, {
      app_url: world.fake.appUrl,
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
      smoke_test_urls: world.fake.appUrl,
    });
    expectSuccess(result);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ aud: world.fake.iap.clientId, email: USER });
    const log = result.visibleLog.join('\n');
    expect(log).toContain("token_type auto: id_token, because a user's refresh token (refresh_token) cannot sign a JWT");
    expect(log).toContain(`Audience: ${world.fake.iap.clientId}, the OAuth client IAP's sign-in redirect at ${world.fake.appUrl} names.`);
  });

  test("a user's refresh token and a URL audience: one error that says what to do, and no request", async () => {
    const user = world.fake.addUser(USER);
    const error = expectFailure(
      await run(world, {
        audience: `${origin()}/*`,
        refresh_token: user.refreshToken,
        oauth_client_id: user.clientId,
        oauth_client_secret: user.clientSecret,
      }),
    );
    expect(error).toContain('Input audience: is a URL, which only a signed JWT can carry');
    expect(error).toContain('Set service_account: SA_EMAIL');
    expect(error).toContain("give audience as the app's OAuth client ID");
    expect(world.fake.count()).toBe(0);
  });

  test("a user on an app on Google's managed client: no ID token for its sign-in client, so an access token, kept fresh", async () => {
    const user = world.fake.addUser(USER);
    world.fake.allowRun(`user:${USER}`);
    world.fake.accessTokenLifetimeS = 8;
    const inputs = {
      app_url: world.fake.runUrl,
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
      keep_fresh: 'true',
    };
    const callRun = async (token: string) => (await fetch(world.fake.runUrl, { headers: { authorization: `Bearer ${token}` } })).status;
    const { post } = await runJob(inputs, { env: world.fake.env(), timeoutMs: 20_000 }, async (main) => {
      expectSuccess(main);
      expect(main.outputs['token_type']).toBe('access_token');
      expect(main.visibleLog.join('\n')).toContain('Token: token_type auto: access_token, because Google will not mint an ID token');
      const { tokenFile } = agentState(main);
      // The agent mints the kind the step fell back to: an access token, again before the first expires (6 s in).
      let token = main.outputs['token'] ?? '';
      for (let i = 0; i < 120 && token === main.outputs['token']; i++) {
        await sleep(250);
        token = readFileSync(tokenFile, 'utf8');
      }
      expect(token).toMatch(/^ya29\./);
      expect(token).not.toBe(main.outputs['token']);
      expect(await callRun(token)).toBe(200);
    });
    expect(post.exitCode).toBe(0);
  });

  test("an app on Google's managed client that takes no access tokens: the ID token's diagnosis, and the access token's", async () => {
    const user = world.fake.addUser(USER);
    world.fake.allowRun(`user:${USER}`);
    world.fake.runIap.acceptsAccessTokens = false;
    const error = expectFailure(
      await run(world, {
        app_url: world.fake.runUrl,
        refresh_token: user.refreshToken,
        oauth_client_id: user.clientId,
        oauth_client_secret: user.clientSecret,
        smoke_test_urls: world.fake.runUrl,
      }),
    );
    // Google will not mint a user's ID token for a client in another project (its own managed client's).
    expect(error).toContain('HTTP 400 invalid_audience');
    expect(error).toContain(`The audience was found from IAP's sign-in redirect at ${world.fake.runUrl}`);
    expect(error).toContain("Google's managed OAuth client");
    expect(error).toContain('set service_account');
    expect(error).toContain(`An access token was tried once too, at ${world.fake.runUrl}: this app does not take access tokens`);
  });

  test("an ID token for the managed client that Google does mint (a service account's) is refused by IAP: the diagnosis says why", async () => {
    world.fake.allowRun(`serviceAccount:${DEPLOYER}`);
    const error = expectFailure(
      await run(world, { credentials_json: key(), token_type: 'id_token', app_url: world.fake.runUrl, smoke_test_urls: world.fake.runUrl }),
    );
    expect(error).toContain(
      `the very client IAP signs people in with, and IAP still refuses it: this app is on Google's managed OAuth client`,
    );
    expect(error).toContain(`Use token_type: signed_jwt with audience ${origin()}/*`);
  });

  test("a runner's metadata server and only the URL: a signed JWT, and when the account may not sign, the ID-token way out too", async () => {
    world.fake.metadata.serviceAccount = DEPLOYER;
    const error = expectFailure(await run(world, { app_url: world.fake.appUrl }, { env: { GCE_METADATA_HOST: world.fake.metadataHost } }));
    expect(error).toContain('iam.serviceAccounts.signJwt');
    expect(error).toContain('roles/iam.serviceAccountTokenCreator');
    expect(error).toContain(
      "Or: token_type auto chose a signed JWT because only the app's URL was given; give audience the app's OAuth client ID to mint an ID token instead",
    );
    world.fake.grant(DEPLOYER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountTokenCreator');
    const result = await run(world, { app_url: world.fake.appUrl }, { env: { GCE_METADATA_HOST: world.fake.metadataHost } });
    expectSuccess(result);
    expect(claimsOf(result.outputs['token'] ?? '')).toMatchObject({ iss: DEPLOYER, aud: `${origin()}/*` });
  });

  test('no audience and no URL: the error names both ways', async () => {
    const error = expectFailure(await run(world, { credentials_json: key() }));
    expect(error).toContain("Input audience: is required, or the app's URL (app_url)");
    expect(world.fake.count()).toBe(0);
  });

  test('an app that names no client: no ID token is minted for a guess', async () => {
    const user = world.fake.addUser(USER);
    const error = expectFailure(
      await run(world, {
        app_url: `${origin()}/public/x`,
        refresh_token: user.refreshToken,
        oauth_client_id: user.clientId,
        oauth_client_secret: user.clientSecret,
      }),
    );
    expect(error).toContain(
      `No audience was given, and none could be found: ${origin()}/public/x answered 200 without IAP's sign-in redirect`,
    );
    expect(world.fake.count('oauth2')).toBe(0);
  });
});

describe('DENY lines: IAP must refuse a stranger', () => {
  test('passes where IAP refuses, fails where the app answers without IAP; no token is sent either way', async () => {
    const result = await run(world, {
      credentials_json: key(),
      smoke_test_urls: `${world.fake.appUrl}/healthz\nDENY ${world.fake.appUrl}/admin\ndeny ${world.fake.directUrl}/x`,
    });
    const error = expectFailure(result);
    expect(error).toContain('Smoke test failed for 1 of 3 URL(s)');
    expect(error).toContain(
      `DENY ${world.fake.directUrl}/x: IAP is not enforced here: the URL answered 200 to a request without any token`,
    );
    const log = result.visibleLog.join('\n');
    expect(log).toContain(`✓ DENY ${world.fake.appUrl}/admin: 302 from IAP without a token`);
    expect(log).toContain(`✗ DENY ${world.fake.directUrl}/x: 200 from the app without a token`);
    expect(world.fake.directRequests).toEqual([
      { host: new URL(origin()).host, path: '/direct/x', authorization: null, proxyAuthorization: null },
    ]);
    expect(world.fake.appRequests.map((request) => request.path)).toEqual(['/app/healthz']);
    expect(readable(result.summary)).toContain(`DENY ${world.fake.directUrl}/x`);
  });

  test('all refused: the step succeeds and smoke_test_results marks the DENY lines', async () => {
    world.fake.direct.open = false;
    const result = await run(world, {
      credentials_json: key(),
      smoke_test_urls: `DENY ${world.fake.appUrl}\nDENY ${world.fake.runUrl}`,
      audience: `${origin()}/*`,
    });
    expectSuccess(result);
    const results = JSON.parse(result.outputs['smoke_test_results'] ?? '[]') as Array<Record<string, unknown>>;
    expect(results.map((entry) => [entry['deny'], entry['ok'], entry['from']])).toEqual([
      [true, true, 'iap'],
      [true, true, 'iap'],
    ]);
  });
});

describe('doctor: true', () => {
  const doctorInputs = (extra: Record<string, string> = {}) => ({
    credentials_json: key(),
    app_url: world.fake.runUrl,
    iap_resource: world.fake.runIap.resource,
    doctor: 'true',
    doctor_also: `${world.fake.directUrl}/`,
    ...extra,
  });

  test('the report goes to the log and the summary; problems do not fail the step unless asked', async () => {
    world.fake.allowRun(`serviceAccount:${DEPLOYER}`);
    const result = await run(world, doctorInputs());
    expectSuccess(result);
    const log = result.visibleLog.join('\n');
    expect(log).toContain(`iap-token doctor ${world.fake.runUrl}`);
    expect(log).toContain('Verdict: a signed JWT gets through IAP. Set token_type signed_jwt and audience');
    expect(log).toContain(`A way around IAP: ${world.fake.directUrl}/`);
    expect(log).toContain('Settings not readable: it needs iap.webServices.getSettings');
    expect(result.summary).toContain('IAP doctor');
    expect(readable(result.summary)).toContain(
      'gcloud run services update hello --region=europe-west1 --ingress=internal-and-cloud-load-balancing',
    );
    // The summary escapes what it quotes: no raw markup from the report.
    expect(doctorSection(result.summary)).not.toMatch(/<(?!\/?(h3|p|pre|br)>)[a-z]|[_*`[\]]/i);
    expect(result.outputs['token']).toBeTruthy();
  });

  test('doctor_fail_on_problem: the step fails with one error, the report still in the summary', async () => {
    const result = await run(world, doctorInputs({ doctor_fail_on_problem: 'true' }));
    const error = expectFailure(result);
    expect(error).toContain('The doctor found 2 problem(s), and doctor_fail_on_problem is true: A way around IAP');
    expect(readable(result.summary)).toContain('No access through IAP for');
    expect(readable(result.summary)).toContain('google_iap_web_cloud_run_service_iam_member');
  });

  test('with read access: the managed client, the allowlist and the IAM policy are shown', async () => {
    world.fake.allowRun(`serviceAccount:${DEPLOYER}`);
    world.fake.grant(world.fake.runIap.resource, `serviceAccount:${DEPLOYER}`, 'roles/iap.admin');
    world.fake.direct.open = false;
    const result = await run(world, doctorInputs({ doctor_fail_on_problem: 'true' }));
    expectSuccess(result);
    const log = result.visibleLog.join('\n');
    expect(log).toContain("IAP uses Google's managed OAuth client");
    expect(log).toContain('programmaticClients: none.');
    expect(log).toContain(`serviceAccount:${DEPLOYER} holds roles/iap.httpsResourceAccessor`);
    expect(log).toContain(`refuses a stranger (403) without IAP: not a way around it`);
  });

  test('doctor without a URL, or its options without doctor: input errors before any request', async () => {
    expect(expectFailure(await run(world, { credentials_json: key(), audience: `${origin()}/*`, doctor: 'true' }))).toContain(
      "Input doctor: needs the app's URL: set app_url",
    );
    expect(
      expectFailure(await run(world, { credentials_json: key(), app_url: world.fake.appUrl, doctor_fail_on_problem: 'true' })),
    ).toContain('Input doctor_fail_on_problem: goes with doctor');
    expect(world.fake.count()).toBe(0);
  });
});
