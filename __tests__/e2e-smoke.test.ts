import { beforeEach, describe, expect, test } from '@jest/globals';
import { DEPLOYER, expectFailure, expectSuccess, INVOKER, run, useWorld } from './e2e-helpers.ts';

const world = useWorld();
beforeEach(() => {
  world.fake.grants.length = 0;
});

const key = () => JSON.stringify(world.deployerKey);
const app = (path = '') => `${world.fake.appUrl}${path}`;
interface Result {
  url: string;
  method: string;
  status: number | null;
  ok: boolean;
  attempts: number;
  ms: number;
  from: string | null;
}
const resultsOf = (outputs: Record<string, string>) => JSON.parse(outputs['smoke_test_results'] ?? 'null') as Result[];
const smoke = (urls: string, extra: Record<string, string> = {}) => ({
  audience: world.audience,
  credentials_json: key(),
  smoke_test_urls: urls,
  ...extra,
});

describe('smoke tests that pass', () => {
  test('each URL (and METHOD URL) is called with the token; results, summary and log say how it went', async () => {
    const result = await run(world, smoke(`${app('/healthz')}\nHEAD ${app('/ready')}\n\n# a comment\npost ${app('/api/ping')}`));
    expectSuccess(result);
    const results = resultsOf(result.outputs);
    expect(results.map(({ ms: _ms, ...rest }) => rest)).toEqual([
      { method: 'GET', url: app('/healthz'), status: 200, ok: true, attempts: 1, from: 'app' },
      { method: 'HEAD', url: app('/ready'), status: 200, ok: true, attempts: 1, from: 'app' },
      { method: 'POST', url: app('/api/ping'), status: 200, ok: true, attempts: 1, from: 'app' },
    ]);
    expect(world.fake.appRequests.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      'GET /app/healthz',
      'HEAD /app/ready',
      'POST /app/api/ping',
    ]);
    expect(result.summary).toContain('Smoke tests');
    expect(result.summary).toContain(`GET ${app('/healthz')}`);
    expect(result.visibleLog.join('\n')).toContain(`✓ GET ${app('/healthz')}: 200 from the app (1 attempt`);
    expect(result.outputs['token']).toBeTruthy();
  });

  test('all targets run side by side', async () => {
    const urls = Array.from({ length: 8 }, (_, i) => app(`/slow/${i}`));
    // Each URL is first checked without the token (is IAP there?), then called with it.
    world.fake.inject('iap', ...[...urls, ...urls].map(() => ({ delayMs: 300 })));
    const result = await run(world, smoke(urls.join('\n')));
    expectSuccess(result);
    expect(world.fake.maxInFlight.get('iap')).toBeGreaterThanOrEqual(8);
  });

  test("IAP's 403 while a grant propagates is retried until it heals", async () => {
    const late = 'late@my-project.iam.gserviceaccount.com';
    const { keyFile } = world.fake.addServiceAccount(late);
    world.fake.allow(`serviceAccount:${late}`, 1_200);
    const result = await run(world, {
      ...smoke(app('/healthz'), { smoke_test_retry_for: '60' }),
      credentials_json: JSON.stringify(keyFile),
    });
    expectSuccess(result);
    const [only] = resultsOf(result.outputs);
    expect(only?.attempts).toBeGreaterThanOrEqual(2);
    expect(result.visibleLog.join('\n')).toMatch(
      /GET .*\/app\/healthz: IAP answered 403 \(attempt 1\); retrying in \d+\.\d s \(\d+\.\d s left\)/,
    );
  });

  test("the app's 5xx are retried; expected statuses can include others", async () => {
    world.fake.inject('iap', {}, { status: 503, body: 'warming up', headers: { 'content-type': 'text/plain' } }, { status: 502 });
    const healed = await run(world, smoke(app('/healthz')));
    expectSuccess(healed);
    expect(resultsOf(healed.outputs).map((r) => [r.status, r.attempts, r.from])).toEqual([[200, 3, 'app']]);
    expect(healed.visibleLog.join('\n')).toContain('the app answered 503 (attempt 1)');
    const notFound = await run(world, smoke(app('/status/404'), { smoke_test_expected_status: '2xx, 404' }));
    expectSuccess(notFound);
    expect(resultsOf(notFound.outputs).map((r) => [r.status, r.attempts])).toEqual([[404, 1]]);
  });

  test('a POST is not repeated once the app may have seen it; an IAP refusal before the app still is', async () => {
    world.fake.inject('iap', {}, { status: 503 });
    const error = expectFailure(await run(world, smoke(`POST ${app('/orders')}`)));
    expect(error).toContain('The app kept answering 503');
    expect(world.fake.count('iap')).toBe(2); // the check without the token (a GET), and the POST once
    world.fake.reset();
    world.fake.inject('iap', {}, { status: 403, headers: { 'x-goog-iap-generated-response': 'true' }, body: 'denied' });
    const healed = await run(world, smoke(`POST ${app('/orders')}`));
    expectSuccess(healed);
    expect(world.fake.count('iap')).toBe(3);
  });

  test('proxy-authorization: IAP takes the token from it and passes the app its own Authorization', async () => {
    const result = await run(
      world,
      smoke(app('/api'), {
        smoke_test_header: 'proxy-authorization',
        smoke_test_headers: 'Authorization: Basic YXBwLXVzZXI6YXBwLXNlY3JldA==\nX-Trace: smoke',
      }),
    );
    expectSuccess(result);
    expect(world.fake.appRequests).toEqual([{ path: '/app/api', method: 'GET', authorization: 'Basic YXBwLXVzZXI6YXBwLXNlY3JldA==' }]);
    expect(result.masks.has('YXBwLXVzZXI6YXBwLXNlY3JldA==')).toBe(true);
    expect(result.visibleLog.join('\n')).not.toContain('YXBwLXVzZXI6YXBwLXNlY3JldA==');
  });

  test('a query string (which may carry a key) is sent but never shown', async () => {
    const result = await run(world, smoke(app('/healthz?key=query-secret-value')));
    expectSuccess(result);
    expect(resultsOf(result.outputs)[0]?.url).toBe(`${app('/healthz')}?…`);
    expect([result.visibleLog.join('\n'), result.summary, result.outputs['smoke_test_results']].join()).not.toContain('query-secret-value');
  });

  test('a redirect is a result, never followed', async () => {
    const result = await run(world, smoke(app('/redirect'), { smoke_test_expected_status: '302' }));
    expectSuccess(result);
    expect(resultsOf(result.outputs)[0]).toMatchObject({ status: 302, from: 'app', attempts: 1 });
    expect(world.fake.count('iap')).toBe(2);
  });
});

describe('smoke tests that fail say why, and leave no outputs', () => {
  test("IAP's 403 for the whole window: the principal and roles/iap.httpsResourceAccessor", async () => {
    const stranger = 'stranger@my-project.iam.gserviceaccount.com';
    const { keyFile } = world.fake.addServiceAccount(stranger);
    const result = await run(world, {
      ...smoke(app('/healthz'), { smoke_test_retry_for: '3' }),
      credentials_json: JSON.stringify(keyFile),
    });
    const error = expectFailure(result);
    expect(error).toContain('Smoke test failed for 1 of 1 URL(s); no outputs were set.');
    expect(error).toContain(`IAP refused ${stranger} with 403 for the whole retry window (3 s)`);
    expect(error).toContain(`--member=serviceAccount:${stranger} --role=roles/iap.httpsResourceAccessor`);
    expect(world.fake.count('iap')).toBeGreaterThanOrEqual(2);
    expect(result.summary).toContain('❌');
  });

  test('an audience IAP refuses: fails at once, names the client IAP uses (from its sign-in redirect), suggests signed_jwt', async () => {
    // token_type named: auto would try an access token once more (access-token.test.ts).
    const result = await run(world, {
      ...smoke(app('/healthz')),
      audience: '999-other.apps.googleusercontent.com',
      token_type: 'id_token',
    });
    const error = expectFailure(result);
    expect(error).toContain('IAP refused the token with 401: "Invalid IAP credentials: Invalid bearer token. Invalid JWT audience."');
    expect(error).toContain(
      `IAP on this app uses the OAuth client ${world.fake.iap.clientId}, and the token's audience is 999-other.apps.googleusercontent.com`,
    );
    expect(error).toContain(`token_type: signed_jwt with audience ${world.fake.url}/*`);
    // The check that IAP is there, one call with the token, one sign-in probe without it.
    expect(world.fake.requests.filter((r) => r.endpoint === 'iap')).toHaveLength(3);
  });

  test('an ID token without the email claim: include_email', async () => {
    world.fake.grant(INVOKER, `serviceAccount:${DEPLOYER}`, 'roles/iam.serviceAccountOpenIdTokenCreator');
    const error = expectFailure(await run(world, smoke(app('/x'), { service_account: INVOKER, include_email: 'false' })));
    expect(error).toContain("JWT 'email' claim isn't a string");
    expect(error).toContain('set include_email: true');
  });

  test('a 403 from behind IAP: the request passed IAP; for Cloud Run, roles/run.invoker for the IAP service agent', async () => {
    const error = expectFailure(await run(world, smoke(app('/status/403'))));
    expect(error).toContain('The request passed IAP, and the app (or the service behind IAP) refused it with 403.');
    expect(error).toContain('--member=serviceAccount:service-PROJECT_NUMBER@gcp-sa-iap.iam.gserviceaccount.com --role=roles/run.invoker');
    expect(world.fake.count('iap')).toBe(2);
  });

  test('an unexpected status fails at once; a redirect names where it went', async () => {
    const result = await run(world, smoke(`${app('/status/404')}\n${app('/redirect')}`));
    const error = expectFailure(result);
    expect(error).toContain('Smoke test failed for 2 of 2 URL(s)');
    expect(error).toContain('The app answered 404, which smoke_test_expected_status (200-299) does not accept.');
    expect(error).toContain('The app redirected to https://login.example.com/start; redirects are not followed');
    expect(world.fake.count('iap')).toBe(4);
  });

  test('a target slower than smoke_test_timeout, with no time to retry', async () => {
    world.fake.inject('iap', {}, { delayMs: 2_000 });
    const error = expectFailure(await run(world, smoke(app('/slow'), { smoke_test_timeout: '1', smoke_test_retry_for: '0' })));
    expect(error).toContain('No answer within the retry window (0 s): no complete answer from');
    expect(error).toContain('within 1 s');
  });
});

describe('smoke-test inputs are checked before anything is minted', () => {
  test.each([
    [{ smoke_test_urls: 'not a url at all' }, 'Input smoke_test_urls: each line is URL, METHOD URL'],
    [{ smoke_test_urls: 'ftp://app.example.com/' }, '"ftp://app.example.com/" is not an http(s) URL'],
    [{ smoke_test_urls: 'http://app.example.com/' }, 'is plain http; the token is sent only over https'],
    [{ smoke_test_urls: 'FETCH https://app.example.com/' }, 'line 1 is none of these'],
    [
      { smoke_test_urls: 'https://app.example.com/', smoke_test_header: 'x-token' },
      'Input smoke_test_header: must be authorization or proxy-authorization',
    ],
    [
      { smoke_test_urls: 'https://app.example.com/', smoke_test_headers: 'Authorization: Bearer mine' },
      'sets authorization, which carries the IAP token',
    ],
    [{ smoke_test_urls: 'https://app.example.com/', smoke_test_headers: 'no colon here' }, 'each line is "Name: value"'],
    [{ smoke_test_urls: 'https://app.example.com/', smoke_test_expected_status: '2xx,abc' }, '"abc" is not a status'],
    [
      { smoke_test_urls: 'https://app.example.com/', smoke_test_retry_for: '-5' },
      'Input smoke_test_retry_for: must be whole seconds from 0 to 3600',
    ],
    [
      { smoke_test_urls: 'https://app.example.com/', smoke_test_timeout: '0' },
      'Input smoke_test_timeout: must be whole seconds from 1 to 600',
    ],
  ])('%o', async (extra, message) => {
    const error = expectFailure(await run(world, { audience: world.audience, credentials_json: key(), ...extra }));
    expect(error).toContain(message);
    expect(world.fake.count()).toBe(0);
  });

  test('with a signed JWT, every URL must be covered by its audience', async () => {
    const error = expectFailure(
      await run(world, {
        audience: app('/healthz'),
        token_type: 'signed_jwt',
        credentials_json: key(),
        smoke_test_urls: `${app('/healthz')}\n${app('/other')}`,
      }),
    );
    expect(error).toContain(`Input smoke_test_urls: ${app('/other')} is not covered by the signed JWT's audience ${app('/healthz')}`);
    const wildcard = await run(world, {
      audience: `${world.fake.url}/*`,
      token_type: 'signed_jwt',
      credentials_json: key(),
      smoke_test_urls: `${app('/healthz')}\n${app('/other')}`,
    });
    expectSuccess(wildcard);
    expect(resultsOf(wildcard.outputs).every((r) => r.ok)).toBe(true);
  });
});

describe('an ID token goes only to URLs IAP answers for', () => {
  test('a URL without IAP in front: the token is not sent, and the target fails saying so', async () => {
    const result = await run(world, smoke(`${world.fake.url}/public/status`));
    const error = expectFailure(result);
    expect(error).toContain('IAP does not answer for this URL, so the ID token was not sent');
    expect(world.fake.publicRequests.map((r) => [r.path, r.authorization])).toEqual([['/public/status', null]]);
  });

  test('a signed JWT needs no such check: its audience is the URL itself', async () => {
    const result = await run(world, {
      audience: `${world.fake.url}/*`,
      token_type: 'signed_jwt',
      credentials_json: key(),
      smoke_test_urls: app('/x'),
    });
    expectSuccess(result);
    expect(world.fake.count('iap')).toBe(1);
  });
});
