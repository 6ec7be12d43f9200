import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { sign } from '../test-bed/fake-google/jwt.ts';
import { FakeGoogle, type ServiceAccount } from '../test-bed/fake-google/server.ts';

/**
 * The fake's second IAP app (directly on Cloud Run, on Google's managed OAuth client), the Cloud Run URL with no IAP
 * in front, and IAP's read-only admin API: the wire behaviour the action's doctor will be tested against, so it must
 * itself match ../shared/google-wire-formats.md.
 */

const SA = 'deployer@my-project.iam.gserviceaccount.com';
const AUDITOR = 'auditor@my-project.iam.gserviceaccount.com';
const ALLOWED_CLIENT = '42-allowed.apps.googleusercontent.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

const fake = new FakeGoogle();
let account: ServiceAccount;

beforeAll(async () => {
  await fake.start();
  account = fake.addServiceAccount(SA).account;
  fake.allowRun(`serviceAccount:${SA}`);
  fake.allow(`serviceAccount:${SA}`);
  fake.markBaseline();
});

afterAll(async () => {
  await fake.stop();
});

beforeEach(() => fake.reset());

/** A Google-signed ID token for the deployer, for `audience`, as generateIdToken would mint it. */
function idToken(audience: string): string {
  return fake.issueIdToken(account, audience, true);
}

/** A JWT the deployer's key signed itself, for `aud`. */
function signedJwt(aud: string): string {
  const iat = Math.floor(Date.now() / 1000);
  return sign({ iss: SA, sub: SA, aud, iat, exp: iat + 600 }, account.key);
}

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${fake.url}${path}`, { headers, redirect: 'manual' });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('the app directly on Cloud Run, on Google’s managed OAuth client (/run)', () => {
  test('refuses an ID token for its own managed client, and one for /app’s client', async () => {
    for (const audience of [fake.runIap.clientId, fake.iap.clientId]) {
      const answer = await get('/run/x', bearer(idToken(audience)));
      expect(answer.status).toBe(401);
      expect(answer.headers.get('x-goog-iap-generated-response')).toBe('true');
      expect(answer.body).toBe('Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.');
    }
    expect(fake.appRequests).toEqual([]);
    // /app, on its custom client, still takes its own client's ID tokens.
    expect((await get('/app/x', bearer(idToken(fake.iap.clientId)))).status).toBe(200);
  });

  test('accepts an ID token whose aud is on its programmaticClients allowlist', async () => {
    fake.runIap.programmaticClients.push(ALLOWED_CLIENT);
    const answer = await get('/run/x', bearer(idToken(ALLOWED_CLIENT)));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-goog-iap-generated-response')).toBeNull();
    expect(JSON.parse(answer.body)).toMatchObject({ ok: true, email: SA, path: '/run/x' });
    expect(fake.appRequests).toEqual([{ path: '/run/x', method: 'GET', authorization: null }]);
    expect(fake.count('iap')).toBe(1);
    // The allowlists are per app: /app does not take it.
    expect((await get('/app/x', bearer(idToken(ALLOWED_CLIENT)))).status).toBe(401);
  });

  test('accepts a signed JWT for the URL, or a wildcard over it; not one for /app', async () => {
    for (const aud of [`${fake.url}/run/x`, `${fake.url}/run/*`, `${fake.url}/*`]) {
      const answer = await get('/run/x', bearer(signedJwt(aud)));
      expect([aud, answer.status]).toEqual([aud, 200]);
    }
    const wrong = await get('/run/x', bearer(signedJwt(`${fake.url}/app/*`)));
    expect([wrong.status, wrong.body]).toEqual([401, 'Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.']);
  });

  test('needs roles/iap.httpsResourceAccessor on /run itself', async () => {
    fake.runIap.accessors.clear();
    const denied = await get('/run/x', bearer(signedJwt(`${fake.url}/*`)));
    expect(denied.status).toBe(403);
    expect(denied.headers.get('x-goog-iap-generated-response')).toBe('true');
    fake.allowRun(`serviceAccount:${SA}`, 60_000);
    expect((await get('/run/x', bearer(signedJwt(`${fake.url}/*`)))).status).toBe(403);
    fake.allowRun(`serviceAccount:${SA}`);
    expect((await get('/run/x', bearer(signedJwt(`${fake.url}/*`)))).status).toBe(200);
  });

  test('without roles/run.invoker for IAP’s service agent, Cloud Run answers 403 itself, with no IAP header', async () => {
    fake.runIap.invokerGranted = false;
    const answer = await get('/run/x', bearer(signedJwt(`${fake.url}/*`)));
    expect(answer.status).toBe(403);
    expect(answer.headers.get('x-goog-iap-generated-response')).toBeNull();
    expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    expect(answer.body).toContain('Error: Forbidden');
    expect(answer.body).toContain('Your client does not have permission to get URL');
    expect(fake.appRequests).toEqual([]);
    // IAP's own refusals come first, and still carry the header.
    expect((await get('/run/x', bearer(idToken(fake.runIap.clientId)))).headers.get('x-goog-iap-generated-response')).toBe('true');
  });

  test('an unauthenticated request is sent to sign in with the managed client', async () => {
    const answer = await get('/run');
    expect(answer.status).toBe(302);
    expect(answer.headers.get('x-goog-iap-generated-response')).toBe('true');
    const location = new URL(answer.headers.get('location') ?? '');
    expect(location.searchParams.get('client_id')).toBe('123456789012-iapmanaged.apps.googleusercontent.com');
    expect(new URL((await get('/app')).headers.get('location') ?? '').searchParams.get('client_id')).toBe(fake.iap.clientId);
  });

  test('serves the app’s pages under /run, as /app does', async () => {
    const answer = await get('/run/status/503', bearer(signedJwt(`${fake.url}/run/*`)));
    expect([answer.status, answer.body]).toEqual([503, 'the app answered 503']);
  });
});

describe('the Cloud Run URL with no IAP in front (/direct)', () => {
  test('when open, answers anyone without IAP, and records what it was sent', async () => {
    const token = idToken(fake.iap.clientId);
    const answer = await get('/direct/healthz', { authorization: `Bearer ${token}`, 'proxy-authorization': 'Bearer other' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-goog-iap-generated-response')).toBeNull();
    expect(JSON.parse(answer.body)).toEqual({ ok: true, direct: true, path: '/direct/healthz' });
    expect((await get('/direct')).status).toBe(200);
    expect(fake.directRequests).toEqual([
      { host: new URL(fake.url).host, path: '/direct/healthz', authorization: `Bearer ${token}`, proxyAuthorization: 'Bearer other' },
      { host: new URL(fake.url).host, path: '/direct', authorization: null, proxyAuthorization: null },
    ]);
    expect(fake.count('direct')).toBe(2);
    expect(fake.count('iap')).toBe(0);
  });

  test('when not open, Cloud Run refuses with its 403 page, no IAP header; the credentials are still recorded', async () => {
    fake.direct.open = false;
    const answer = await get('/direct/x', bearer('ya29.leaked'));
    expect(answer.status).toBe(403);
    expect(answer.headers.get('x-goog-iap-generated-response')).toBeNull();
    expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    expect(answer.body).toContain('Error: Forbidden');
    expect(answer.body).toContain('Your client does not have permission to get URL');
    expect(fake.directRequests.map((r) => r.authorization)).toEqual(['Bearer ya29.leaked']);
  });
});

describe('IAP’s admin API (read-only)', () => {
  const api = () => fake.env()['GHA_ENDPOINT_OVERRIDE_iap'] ?? '';

  /** An access token for a service account holding `role` on `resource`. */
  function admin(role = 'roles/iap.admin', resource = 'projects/123456789012'): string {
    fake.grant(resource, `serviceAccount:${AUDITOR}`, role);
    return fake.issueAccessToken({ kind: 'serviceAccount', email: AUDITOR });
  }

  async function call(method: 'GET' | 'POST', name: string, token?: string, body?: string) {
    const headers: Record<string, string> = token ? bearer(token) : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${api()}/${name}`, { method, headers, ...(body === undefined ? {} : { body }) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  test('the override points at the fake', () => {
    expect(api()).toBe(`${fake.url}/iap/v1`);
    expect(fake.env((name) => `https://${name}.fake-google.test`)['GHA_ENDPOINT_OVERRIDE_iap']).toBe('https://iap.fake-google.test/iap/v1');
  });

  test('iapSettings shows a custom client’s clientId, and none for Google’s managed client', async () => {
    const token = admin('roles/iap.settingsAdmin');
    fake.iap.programmaticClients.push(ALLOWED_CLIENT);
    const custom = await call('GET', `${fake.iap.resource}:iapSettings`, token);
    expect(custom.status).toBe(200);
    expect(custom.body).toEqual({
      name: 'projects/123456789012/iap_web/compute/services/5555555555555',
      accessSettings: {
        oauthSettings: {
          clientId: fake.iap.clientId,
          clientSecretSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
          programmaticClients: [ALLOWED_CLIENT],
        },
      },
      applicationSettings: {},
    });
    const managed = await call('GET', `${fake.runIap.resource}:iapSettings`, token);
    expect(managed).toEqual({
      status: 200,
      body: {
        name: 'projects/123456789012/iap_web/cloud_run-europe-west1/services/hello',
        accessSettings: { oauthSettings: {} },
        applicationSettings: {},
      },
    });
    fake.runIap.programmaticClients.push(ALLOWED_CLIENT);
    expect((await call('GET', `${fake.runIap.resource}:iapSettings`, token)).body['accessSettings']).toEqual({
      oauthSettings: { programmaticClients: [ALLOWED_CLIENT] },
    });
    expect(fake.count('iapAdmin')).toBe(3);
  });

  test('getIamPolicy lists the accessors whose grant has propagated', async () => {
    const token = admin();
    fake.allowRun('user:alice@example.com');
    fake.allowRun('user:bob@example.com', 60_000);
    for (const body of ['{}', '{"options":{"requestedPolicyVersion":3}}', undefined]) {
      const answer = await call('POST', `${fake.runIap.resource}:getIamPolicy`, token, body);
      expect(answer).toEqual({
        status: 200,
        body: {
          version: 1,
          etag: 'BwYfakeEtag=',
          bindings: [{ role: 'roles/iap.httpsResourceAccessor', members: [`serviceAccount:${SA}`, 'user:alice@example.com'] }],
        },
      });
    }
    fake.iap.accessors.clear();
    expect(await call('POST', `${fake.iap.resource}:getIamPolicy`, token, '{}')).toEqual({
      status: 200,
      body: { version: 1, etag: 'BwYfakeEtag=' },
    });
  });

  test('401 without a token, or with an unknown one', async () => {
    for (const token of [undefined, 'ya29.unknown']) {
      const answer = await call('GET', `${fake.iap.resource}:iapSettings`, token);
      expect(answer.status).toBe(401);
      expect(answer.body['error']).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    }
  });

  test('403 naming the permission and the resource without a grant; 200 once one is pushed, on the resource', async () => {
    const token = fake.issueAccessToken({ kind: 'serviceAccount', email: AUDITOR });
    const name = fake.runIap.resource;
    const denied = await call('GET', `${name}:iapSettings`, token);
    expect(denied).toEqual({
      status: 403,
      body: {
        error: {
          code: 403,
          status: 'PERMISSION_DENIED',
          message: `Permission 'iap.webServices.getSettings' denied on resource '${name}' (or it may not exist).`,
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
              reason: 'IAM_PERMISSION_DENIED',
              domain: 'iam.googleapis.com',
              metadata: { permission: 'iap.webServices.getSettings' },
            },
          ],
        },
      },
    });
    // A securityReviewer may read policies, not settings.
    fake.grant(name, `serviceAccount:${AUDITOR}`, 'roles/iam.securityReviewer');
    expect((await call('POST', `${name}:getIamPolicy`, token, '{}')).status).toBe(200);
    expect(((await call('GET', `${name}:iapSettings`, token)).body['error'] as { message: string }).message).toContain(
      "'iap.webServices.getSettings'",
    );
    // A grant on one resource does not reach the other.
    const other = await call('POST', `${fake.iap.resource}:getIamPolicy`, token, '{}');
    expect([other.status, (other.body['error'] as { message: string }).message]).toEqual([
      403,
      `Permission 'iap.webServices.getIamPolicy' denied on resource '${fake.iap.resource}' (or it may not exist).`,
    ]);
    fake.grant(name, `serviceAccount:${AUDITOR}`, 'roles/iap.settingsAdmin');
    expect((await call('GET', `${name}:iapSettings`, token)).status).toBe(200);
  });

  test('federated callers are checked by their members, as IAM Credentials does', async () => {
    const member =
      'principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/attribute.repository/octo-org/deploy-app';
    const token = fake.issueAccessToken({ kind: 'federated', members: [member] });
    expect((await call('GET', `${fake.iap.resource}:iapSettings`, token)).status).toBe(403);
    fake.grant('projects/123456789012', member, 'roles/iap.settingsAdmin');
    expect((await call('GET', `${fake.iap.resource}:iapSettings`, token)).status).toBe(200);
  });

  test('a user token without the cloud-platform scope is refused before any permission check', async () => {
    fake.grant('projects/123456789012', 'user:alice@example.com', 'roles/iap.admin');
    const narrow = fake.issueAccessToken({ kind: 'user', email: 'alice@example.com', scopes: ['openid', 'email'] });
    const answer = await call('GET', `${fake.iap.resource}:iapSettings`, narrow);
    expect(answer.status).toBe(403);
    expect(answer.body['error']).toMatchObject({ status: 'PERMISSION_DENIED', details: [{ reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' }] });
    const wide = fake.issueAccessToken({ kind: 'user', email: 'alice@example.com', scopes: [CLOUD_PLATFORM] });
    expect((await call('GET', `${fake.iap.resource}:iapSettings`, wide)).status).toBe(200);
  });

  test('404 for a resource that is neither app’s, when permitted; 405 for a wrong method; 400 for an unknown field', async () => {
    const token = admin();
    const missing = await call('GET', 'projects/123456789012/iap_web/compute/services/999:iapSettings', token);
    expect([missing.status, (missing.body['error'] as { status: string }).status]).toEqual([404, 'NOT_FOUND']);
    expect((await call('POST', `${fake.iap.resource}:iapSettings`, token, '{}')).status).toBe(405);
    expect((await call('GET', `${fake.iap.resource}:getIamPolicy`, token)).status).toBe(405);
    const unknown = await call('POST', `${fake.iap.resource}:getIamPolicy`, token, '{"option":{}}');
    expect(unknown.status).toBe(400);
    expect(unknown.body['error']).toMatchObject({ status: 'INVALID_ARGUMENT', message: expect.stringContaining('Unknown name "option"') });
    expect((await call('POST', `${fake.iap.resource}:getIamPolicy`, token, '{"options":{"requestedPolicyVersion":2}}')).status).toBe(400);
    expect((await call('GET', 'projects/123456789012:iapSettingz', token)).status).toBe(404);
  });
});

describe('reset()', () => {
  test('restores the Cloud Run app, the direct URL and their traffic', async () => {
    const before = {
      iap: { ...fake.iap, programmaticClients: [...fake.iap.programmaticClients], accessors: [...fake.iap.accessors] },
      runIap: { ...fake.runIap, programmaticClients: [...fake.runIap.programmaticClients], accessors: [...fake.runIap.accessors] },
      direct: { ...fake.direct },
    };
    const accessors = fake.runIap.accessors;
    fake.runIap.clientId = 'changed.apps.googleusercontent.com';
    fake.runIap.programmaticClients.push(ALLOWED_CLIENT);
    fake.runIap.accessors.clear();
    fake.allowRun('user:mallory@example.com', 60_000);
    fake.runIap.invokerGranted = false;
    fake.runIap.resource = 'projects/1/iap_web/cloud_run-us-central1/services/other';
    fake.iap.resource = 'projects/1/iap_web/compute/services/1';
    fake.direct.open = false;
    await get('/direct/x', bearer('ya29.x'));
    fake.reset();
    expect({
      iap: { ...fake.iap, accessors: [...fake.iap.accessors] },
      runIap: { ...fake.runIap, accessors: [...fake.runIap.accessors] },
      direct: fake.direct,
    }).toEqual(before);
    expect(fake.runIap.accessors).toBe(accessors);
    expect(fake.runIap.invokerGranted).toBe(true);
    expect(fake.direct.open).toBe(true);
    expect(fake.directRequests).toEqual([]);
    expect(fake.count()).toBe(0);
  });

  test('markBaseline() takes the Cloud Run app and the direct URL as they are then', () => {
    const other = new FakeGoogle();
    other.runIap.programmaticClients.push(ALLOWED_CLIENT);
    other.runIap.invokerGranted = false;
    other.allowRun('user:alice@example.com');
    other.direct.open = false;
    other.markBaseline();
    other.runIap.programmaticClients.length = 0;
    other.runIap.invokerGranted = true;
    other.runIap.accessors.clear();
    other.direct.open = true;
    other.reset();
    expect([other.runIap.programmaticClients, other.runIap.invokerGranted, [...other.runIap.accessors], other.direct.open]).toEqual([
      [ALLOWED_CLIENT],
      false,
      [['user:alice@example.com', 0]],
      false,
    ]);
  });

  test('forgetRequests() forgets what reached /direct and keeps the world', async () => {
    fake.direct.open = false;
    await get('/direct/x');
    fake.forgetRequests();
    expect([fake.directRequests, fake.direct.open]).toEqual([[], false]);
  });
});
