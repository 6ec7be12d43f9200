import { describe, expect, test } from '@jest/globals';
import type { DoctorReport } from '../src/doctor/report.ts';
import { serviceAccountKeyFile } from '../test-bed/fake-google/jwt.ts';

/**
 * The doctor's pure parts, in process: what a URL or a named IAP resource says about the app (its kind, its name, the
 * gcloud flags and Terraform that name it), the text report, and how token_type auto and the doctor's inputs are read.
 */

// Reading inputs registers secrets with the runner's mask command: record them instead of printing ::add-mask::.
const { setMasker } = await import('../src/secrets.ts');
setMasker(() => undefined);
const { describeResource, gcloudResourceFlags, hcl, terraformAccessor } = await import('../src/doctor/resource.ts');
const { renderReport } = await import('../src/doctor/report.ts');
const { ACTION_VOCABULARY, readConfig } = await import('../src/inputs/index.ts');
const { CLI_VOCABULARY } = await import('../src/cli/vocabulary.ts');
const { InputError } = await import('../src/errors.ts');
const { policyFor } = await import('../src/doctor/access.ts');

type Inputs = Record<string, string>;

const CLIENT_ID = '1234-abc.apps.googleusercontent.com';
const RUN_URL = 'https://hello-123456789012.europe-west1.run.app/x';
const RUN_NAME = 'projects/123456789012/iap_web/cloud_run-europe-west1/services/hello';
const MEMBER = 'serviceAccount:deployer@my-project.iam.gserviceaccount.com';
const keyJson = JSON.stringify(
  serviceAccountKeyFile('deployer@my-project.iam.gserviceaccount.com', undefined, { private_key_id: 'abc123' }),
);

/** readConfig as the action calls it: inputs as given (undefined: not given), the action's words, an empty environment. */
function config(inputs: Inputs, words = ACTION_VOCABULARY) {
  return readConfig((name) => inputs[name], {}, words);
}

function inputError(inputs: Inputs, words = ACTION_VOCABULARY): InstanceType<typeof InputError> {
  try {
    config(inputs, words);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InstanceType<typeof InputError>;
  }
  throw new Error('expected an input error');
}

const key = (): Inputs => ({ credentials_json: keyJson });
const user = (): Inputs => ({
  refresh_token: '1//0g-refresh-token-for-tests',
  oauth_client_id: CLIENT_ID,
  oauth_client_secret: 'GOCSPX-secret',
});

describe('describeResource', () => {
  test("a Cloud Run service's deterministic run.app URL names the service, its region, its project and its IAP resource", () => {
    expect(describeResource(new URL(RUN_URL), undefined)).toEqual({
      kind: 'cloud-run',
      description: 'a Cloud Run service (hello in europe-west1, project 123456789012), from its run.app URL',
      name: RUN_NAME,
      project: '123456789012',
      service: 'hello',
      region: 'europe-west1',
    });
  });

  test('a service name with hyphens and digits keeps them; the host is read case-insensitively', () => {
    expect(describeResource(new URL('https://API-v2-42-123456789012.US-CENTRAL1.run.app/'), undefined)).toMatchObject({
      kind: 'cloud-run',
      name: 'projects/123456789012/iap_web/cloud_run-us-central1/services/api-v2-42',
      service: 'api-v2-42',
      region: 'us-central1',
    });
  });

  test('the older SERVICE-HASH-CODE.a.run.app URL is Cloud Run, but names no resource', () => {
    const resource = describeResource(new URL('https://x-abc123-ew.a.run.app'), undefined);
    expect(resource).toMatchObject({ kind: 'cloud-run', name: undefined, project: undefined, service: undefined, region: undefined });
    expect(resource.description).toContain('names no project');
  });

  test('an appspot.com URL is App Engine; a custom domain is most likely a load balancer; neither names a resource', () => {
    expect(describeResource(new URL('https://my-app.appspot.com/'), undefined)).toMatchObject({ kind: 'app-engine', name: undefined });
    const custom = describeResource(new URL('https://app.example.com/'), undefined);
    expect(custom).toMatchObject({ kind: 'backend-service', name: undefined, project: undefined });
    expect(custom.description).toMatch(/^a load balancer/);
  });

  test('a named resource wins over the URL, and each type of name is read', () => {
    // A run.app URL, but the user named a backend service: the name is what the APIs use.
    expect(describeResource(new URL(RUN_URL), 'projects/42/iap_web/compute/services/5555')).toEqual({
      kind: 'backend-service',
      description: "a load balancer's backend service (projects/42/iap_web/compute/services/5555)",
      name: 'projects/42/iap_web/compute/services/5555',
      project: '42',
      service: '5555',
      region: undefined,
    });
    const url = new URL('https://app.example.com/');
    expect(describeResource(url, 'projects/42/iap_web/compute-europe-west1/services/77')).toMatchObject({
      kind: 'backend-service',
      project: '42',
      service: '77',
      region: 'europe-west1',
    });
    expect(describeResource(url, 'projects/my-project/iap_web/appengine-my-app/services/default')).toMatchObject({
      kind: 'app-engine',
      name: 'projects/my-project/iap_web/appengine-my-app/services/default',
      project: 'my-project',
      service: 'default',
      region: undefined,
    });
    expect(describeResource(url, RUN_NAME)).toEqual({
      kind: 'cloud-run',
      description: `a Cloud Run service with IAP on it directly (${RUN_NAME})`,
      name: RUN_NAME,
      project: '123456789012',
      service: 'hello',
      region: 'europe-west1',
    });
    expect(describeResource(url, 'projects/42/iap_web/other-thing')).toMatchObject({
      kind: 'unknown',
      name: 'projects/42/iap_web/other-thing',
      description: 'the IAP resource projects/42/iap_web/other-thing',
    });
  });
});

describe('gcloud flags and Terraform for each kind of resource', () => {
  const url = new URL('https://app.example.com/');
  const run = describeResource(new URL(RUN_URL), undefined);
  const runUnnamed = describeResource(new URL('https://x-abc123-ew.a.run.app'), undefined);
  // The app ID in the resource name differs from the project here, as it does when the name uses the project number.
  const appEngine = describeResource(url, 'projects/my-project/iap_web/appengine-my-app/services/api');
  const appEngineUnnamed = describeResource(new URL('https://my-app.appspot.com/'), undefined);
  const backend = describeResource(url, 'projects/42/iap_web/compute-europe-west1/services/77');
  const backendUnnamed = describeResource(url, undefined);
  const unknown = describeResource(url, 'projects/42/iap_web/other-thing');

  test('gcloudResourceFlags names the resource as gcloud iap web and gcloud iap settings take it', () => {
    expect(gcloudResourceFlags(run)).toBe('--resource-type=cloud-run --service=hello --region=europe-west1 --project=123456789012');
    expect(gcloudResourceFlags(runUnnamed)).toBe('--resource-type=cloud-run --service=SERVICE --region=REGION');
    expect(gcloudResourceFlags(appEngine)).toBe('--resource-type=app-engine --service=api --project=my-project');
    expect(gcloudResourceFlags(appEngineUnnamed)).toBe('--resource-type=app-engine --service=default');
    expect(gcloudResourceFlags(backend)).toBe('--resource-type=backend-services --service=77 --region=europe-west1 --project=42');
    expect(gcloudResourceFlags(backendUnnamed)).toBe('--resource-type=backend-services --service=BACKEND_SERVICE');
    expect(gcloudResourceFlags(unknown)).toBe('--resource-type=backend-services --service=BACKEND_SERVICE --project=42');
  });

  test('terraformAccessor grants roles/iap.httpsResourceAccessor with the resource type of each kind, aligned as terraform fmt does', () => {
    expect(terraformAccessor(run, MEMBER)).toBe(
      [
        'resource "google_iap_web_cloud_run_service_iam_member" "iap_access" {',
        '  project                = "123456789012"',
        '  location               = "europe-west1"',
        '  cloud_run_service_name = "hello"',
        '  role                   = "roles/iap.httpsResourceAccessor"',
        `  member                 = "${MEMBER}"`,
        '}',
      ].join('\n'),
    );
    expect(terraformAccessor(runUnnamed, MEMBER)).toContain('location               = "REGION"');
    expect(terraformAccessor(runUnnamed, MEMBER)).toContain('cloud_run_service_name = "SERVICE"');
    expect(terraformAccessor(runUnnamed, MEMBER)).toContain('project                = "PROJECT_ID"');
    expect(terraformAccessor(appEngine, MEMBER)).toBe(
      [
        'resource "google_iap_app_engine_service_iam_member" "iap_access" {',
        '  project = "my-project"',
        '  app_id  = "my-app"',
        '  service = "api"',
        '  role    = "roles/iap.httpsResourceAccessor"',
        `  member  = "${MEMBER}"`,
        '}',
      ].join('\n'),
    );
    expect(terraformAccessor(appEngineUnnamed, MEMBER)).toContain('service = "default"');
    expect(terraformAccessor(backend, MEMBER)).toBe(
      [
        // A regional backend service (compute-REGION) has its own Terraform resource.
        'resource "google_iap_web_region_backend_service_iam_member" "iap_access" {',
        '  project                    = "42"',
        '  region                     = "europe-west1"',
        '  web_region_backend_service = "77"',
        '  role                       = "roles/iap.httpsResourceAccessor"',
        `  member                     = "${MEMBER}"`,
        '}',
      ].join('\n'),
    );
    expect(terraformAccessor(describeResource(url, 'projects/42/iap_web/compute/services/77'), MEMBER)).toBe(
      [
        'resource "google_iap_web_backend_service_iam_member" "iap_access" {',
        '  project             = "42"',
        '  web_backend_service = "77"',
        '  role                = "roles/iap.httpsResourceAccessor"',
        `  member              = "${MEMBER}"`,
        '}',
      ].join('\n'),
    );
    expect(terraformAccessor(backendUnnamed, MEMBER)).toContain('web_backend_service = "BACKEND_SERVICE"');
    expect(terraformAccessor(unknown, MEMBER)).toMatch(/^resource "google_iap_web_backend_service_iam_member"/);
  });

  test('hcl quotes values as JSON strings and takes a resource name', () => {
    expect(hcl('google_x', { a: 'say "hi"', long_name: 'b\\c' }, 'mine')).toBe(
      ['resource "google_x" "mine" {', '  a         = "say \\"hi\\""', '  long_name = "b\\\\c"', '}'].join('\n'),
    );
  });
});

describe('renderReport', () => {
  const report: DoctorReport = {
    url: 'https://app.example.com/',
    resource: 'a load balancer',
    layers: [
      {
        title: 'Outside',
        checks: [
          { status: 'ok', text: 'IAP answers.' },
          { status: 'info', text: 'first line\nsecond line' },
        ],
      },
      {
        title: 'Inside',
        checks: [
          { status: 'problem', text: 'Refused.' },
          { status: 'skipped', text: 'Not minted.' },
        ],
      },
    ],
    trials: [],
    verdict: { works: false, tokenType: undefined, audience: undefined, text: 'no token got through IAP.' },
    problems: [
      { title: 'First', why: 'Because.\nAnd more.', gcloud: 'gcloud one\ngcloud two', terraform: 'resource "x" "y" {\n  a = "b"\n}' },
      { title: 'Second', why: 'No fix.', gcloud: undefined, terraform: undefined },
    ],
  };

  test('layers are numbered with a mark per check, then the verdict, then each problem with its fixes indented', () => {
    expect(renderReport(report)).toBe(
      [
        'iap-token doctor https://app.example.com/',
        '',
        '1. Outside',
        '   ✓ IAP answers.',
        '   · first line',
        '     second line',
        '',
        '2. Inside',
        '   ✗ Refused.',
        '   – Not minted.',
        '',
        'Verdict: no token got through IAP.',
        '',
        'Problems (2):',
        '1. First: Because.',
        '   And more.',
        '   gcloud:',
        '     gcloud one',
        '     gcloud two',
        '   Terraform:',
        '     resource "x" "y" {',
        '       a = "b"',
        '     }',
        '2. Second: No fix.',
      ].join('\n'),
    );
  });

  test('a report without problems ends with its verdict', () => {
    const text = renderReport({ ...report, problems: [], verdict: { ...report.verdict, works: true, text: 'fine.' } });
    expect(text.endsWith('\nVerdict: fine.')).toBe(true);
    expect(text).not.toContain('Problems');
  });
});

describe('token_type auto', () => {
  test('an audience that is a URL means a signed JWT', () => {
    const read = config({ ...key(), audience: 'https://App.example.com/*' });
    expect(read).toMatchObject({ tokenType: 'signed_jwt', audience: 'https://app.example.com/*', audienceFrom: undefined });
    expect(read.choice).toBe('token_type auto: signed_jwt, because audience is a URL.');
  });

  test('an audience that is an OAuth client ID means an ID token, for a key or a refresh token alike', () => {
    expect(config({ ...key(), audience: CLIENT_ID })).toMatchObject({ tokenType: 'id_token', audience: CLIENT_ID });
    const read = config({ ...user(), audience: CLIENT_ID });
    expect(read).toMatchObject({ tokenType: 'id_token', audience: CLIENT_ID, audienceFrom: undefined });
    expect(read.choice).toBe('token_type auto: id_token, because audience is an OAuth client ID.');
  });

  test("no audience, an app URL and a caller that can sign: a signed JWT for every path of the app's host", () => {
    const read = config({ ...key(), app_url: 'https://app.example.com/home?x=1' });
    expect(read).toMatchObject({
      tokenType: 'signed_jwt',
      audience: 'https://app.example.com/*',
      audienceFrom: undefined,
      appUrl: 'https://app.example.com/home?x=1',
    });
    expect(read.choice).toBe(
      "token_type auto: signed_jwt for https://app.example.com/* (from app_url): a service-account-signed JWT needs no OAuth client, so it works for apps on Google's managed client too.",
    );
  });

  test("no audience, an app URL and a user's refresh token: an ID token whose audience is found from the app URL", () => {
    const read = config({ ...user(), app_url: 'https://app.example.com/home' });
    expect(read).toMatchObject({ tokenType: 'id_token', audience: '', audienceFrom: 'https://app.example.com/home' });
    expect(read.choice).toContain('id_token, because');
    expect(read.choice).toContain("the OAuth client named by IAP's sign-in redirect at https://app.example.com/home (app_url)");
  });

  test('a refresh token with service_account can sign, so the app URL gives a signed JWT', () => {
    const read = config({ ...user(), service_account: 'relay@my-project.iam.gserviceaccount.com', app_url: 'https://app.example.com/' });
    expect(read).toMatchObject({ tokenType: 'signed_jwt', audience: 'https://app.example.com/*' });
  });

  test("a URL audience with a user's refresh token names service_account as the way to sign, in each front door's words", () => {
    const action = inputError({ ...user(), audience: 'https://app.example.com/*' });
    expect(action.input).toBe('audience');
    expect(action.message).toContain('Set service_account: SA_EMAIL');
    expect(action.message).toContain('cannot sign');
    const cli = inputError({ ...user(), audience: 'https://app.example.com/*' }, CLI_VOCABULARY);
    expect(cli.input).toBe('--audience');
    expect(cli.message).toContain('Use --service-account SA_EMAIL');
  });

  test('neither an audience nor a URL: the error names app_url', () => {
    const error = inputError(key());
    expect(error.input).toBe('audience');
    expect(error.message).toContain('app_url');
    expect(inputError(key(), CLI_VOCABULARY).message).toContain('--url');
  });

  test('token_type signed_jwt takes the app URL for its audience; id_token finds its audience from it', () => {
    expect(config({ ...key(), token_type: 'signed_jwt', app_url: 'https://app.example.com/x' })).toMatchObject({
      tokenType: 'signed_jwt',
      audience: 'https://app.example.com/*',
    });
    expect(config({ ...key(), token_type: 'id_token', app_url: 'https://app.example.com/x' })).toMatchObject({
      tokenType: 'id_token',
      audience: '',
      audienceFrom: 'https://app.example.com/x',
    });
    expect(inputError({ ...key(), token_type: 'jwt', app_url: 'https://app.example.com/' }).input).toBe('token_type');
  });

  test('app_url must be https (http only to this machine) and carry no password', () => {
    expect(inputError({ ...key(), app_url: 'http://app.example.com/' }).input).toBe('app_url');
    expect(inputError({ ...key(), app_url: 'not a url' }).input).toBe('app_url');
    const withPassword = inputError({ ...key(), app_url: 'https://me:hunter2secret@app.example.com/' });
    expect(withPassword.input).toBe('app_url');
    expect(withPassword.message).not.toContain('hunter2secret');
    expect(config({ ...key(), app_url: 'http://127.0.0.1:8080/app' }).audience).toBe('http://127.0.0.1:8080/*');
  });
});

describe('smoke_test_urls as the app URL', () => {
  test('the first line that is not DENY is the app URL; DENY lines are parsed and need no coverage by the audience', () => {
    const read = config({
      ...key(),
      smoke_test_urls: 'DENY https://other.example.com/admin\nPOST https://app.example.com/api\nhttps://app.example.com/health',
    });
    expect(read).toMatchObject({ tokenType: 'signed_jwt', audience: 'https://app.example.com/*', appUrl: 'https://app.example.com/api' });
    expect(read.smoke?.targets).toEqual([
      { method: 'GET', url: 'https://other.example.com/admin', deny: true },
      { method: 'POST', url: 'https://app.example.com/api', deny: false },
      { method: 'GET', url: 'https://app.example.com/health', deny: false },
    ]);
    expect(read.choice).toContain('(from smoke_test_urls)');
  });

  test('a non-DENY URL on another host is not covered by the signed JWT, and is refused', () => {
    const error = inputError({ ...key(), smoke_test_urls: 'https://app.example.com/\nhttps://other.example.com/admin' });
    expect(error.input).toBe('smoke_test_urls');
    expect(error.message).toContain('https://other.example.com/admin is not covered');
  });

  test('with only DENY lines there is no app URL', () => {
    expect(inputError({ ...key(), smoke_test_urls: 'DENY https://app.example.com/' }).message).toContain('app_url');
  });
});

describe('the doctor inputs', () => {
  test('doctor: true with the app URL gives the doctor its settings; not given, there is none', () => {
    expect(config({ ...key(), app_url: 'https://app.example.com/x', doctor: 'true' }).doctor).toEqual({
      url: 'https://app.example.com/x',
      also: [],
      iapResource: undefined,
      failOnProblem: false,
    });
    expect(config({ ...key(), app_url: 'https://app.example.com/x' }).doctor).toBeUndefined();
    expect(config({ ...key(), app_url: 'https://app.example.com/x', doctor: 'FALSE' }).doctor).toBeUndefined();
    expect(inputError({ ...key(), app_url: 'https://app.example.com/', doctor: 'yes' }).input).toBe('doctor');
  });

  test('doctor: true without any URL is refused, naming app_url', () => {
    const error = inputError({ ...key(), audience: CLIENT_ID, doctor: 'true' });
    expect(error.input).toBe('doctor');
    expect(error.message).toContain('app_url');
    expect(inputError({ ...key(), doctor: 'true' }).message).toContain('app_url');
    expect(inputError({ ...key(), audience: CLIENT_ID, doctor: 'true' }, CLI_VOCABULARY).message).toContain('--url');
  });

  test('doctor_fail_on_problem and doctor_also go with doctor', () => {
    const failOn = inputError({ ...key(), app_url: 'https://app.example.com/', doctor_fail_on_problem: 'true' });
    expect(failOn.input).toBe('doctor_fail_on_problem');
    expect(failOn.message).toContain('doctor');
    expect(inputError({ ...key(), app_url: 'https://app.example.com/', doctor_also: 'https://x.run.app/' }).input).toBe('doctor_also');
    expect(
      config({ ...key(), app_url: 'https://app.example.com/', doctor: 'true', doctor_fail_on_problem: 'true' }).doctor?.failOnProblem,
    ).toBe(true);
  });

  test('doctor_also: URLs one per line (a comma may be part of a URL), at most 10, each a URL without a password', () => {
    const base = { ...key(), app_url: 'https://app.example.com/', doctor: 'true' };
    const ten = Array.from({ length: 10 }, (_, i) => `https://s${i}-abc-ew.a.run.app/`);
    expect(config({ ...base, doctor_also: ten.join('\n') }).doctor?.also).toEqual(ten);
    expect(config({ ...base, doctor_also: ' https://a.example.com/ \nhttps://b.example.com/x,y\n\n' }).doctor?.also).toEqual([
      'https://a.example.com/',
      'https://b.example.com/x,y',
    ]);
    const eleven = inputError({ ...base, doctor_also: [...ten, 'https://s10.example.com/'].join('\n') });
    expect(eleven.input).toBe('doctor_also');
    expect(eleven.message).toContain('at most 10');
    expect(inputError({ ...base, doctor_also: 'https://a.example.com/\nnope' }).message).toContain('entry 2 is not a URL');
    const secret = inputError({ ...base, doctor_also: 'https://me:pa55word-secret@a.example.com/' });
    expect(secret.message).toContain('user name or password');
    expect(secret.message).not.toContain('pa55word-secret');
    expect(inputError({ ...base, doctor_also: 'ftp://a.example.com/' }).message).toContain('not an http(s) URL');
  });

  test('iap_resource: an IAP resource name of each type is accepted; anything else is refused, naming the input', () => {
    const base = { ...key(), app_url: 'https://app.example.com/', doctor: 'true' };
    for (const name of [
      'projects/123456789012/iap_web/compute/services/5555555555555',
      'projects/my-project/iap_web/compute-europe-west1/services/backend',
      'projects/123/iap_web/appengine-my-app/services/default',
      RUN_NAME,
      'projects/123/iap_web/compute',
      'projects/123/iap_web',
    ]) {
      expect(config({ ...base, iap_resource: name }).doctor?.iapResource).toBe(name);
    }
    for (const bogus of [
      'bogus',
      '//iap.googleapis.com/projects/123/iap_web/compute/services/1',
      'projects/123/iap_web/compute/services/1/versions/2',
      'projects/123/iap_web/cloud_run-europe-west1/services/*',
      'projects/123/iap_web/gke/services/x',
      `projects/123/iap_web/compute/services/${'a'.repeat(101)}`,
    ]) {
      const error = inputError({ ...base, iap_resource: bogus });
      expect(error.input).toBe('iap_resource');
      expect(error.message).toContain('IAP resource name');
    }
    expect(inputError({ ...base, iap_resource: 'bogus' }, CLI_VOCABULARY).input).toBe('--iap-resource');
  });
});

describe("the IAM policy's word on the principal", () => {
  const PRINCIPAL = 'deployer@my-project.iam.gserviceaccount.com';
  const ACCESSOR = 'roles/iap.httpsResourceAccessor';
  const binding = (members: string[], conditional = false) => ({ role: ACCESSOR, members, conditional });

  test('granted by name: ok; under a condition only: a note, not a problem; both: ok', () => {
    expect(policyFor([binding([MEMBER])], PRINCIPAL)).toMatchObject({ missing: false, checks: [{ status: 'ok' }] });
    const conditional = policyFor([binding([MEMBER], true)], PRINCIPAL);
    expect(conditional).toMatchObject({ missing: false, checks: [{ status: 'info' }] });
    expect(conditional.checks[0]?.text).toContain('under a condition, which IAP checks on each request');
    expect(policyFor([binding([MEMBER], true), binding([MEMBER])], PRINCIPAL).checks[0]?.status).toBe('ok');
  });

  test('through a group, a domain or a federated principal: maybe; not at all: missing; another role: missing', () => {
    for (const member of ['group:ops@example.com', 'domain:example.com', 'principal://iam.googleapis.com/x', 'allAuthenticatedUsers']) {
      const result = policyFor([binding([member])], PRINCIPAL);
      expect(result).toMatchObject({ missing: false, checks: [{ status: 'info' }] });
      expect(result.checks[0]?.text).toContain(`it may hold it through ${member}`);
    }
    expect(policyFor([binding(['user:bob@example.com'])], PRINCIPAL)).toMatchObject({ missing: true, checks: [{ status: 'problem' }] });
    expect(policyFor([{ role: 'roles/viewer', members: [MEMBER], conditional: false }], PRINCIPAL).missing).toBe(true);
    expect(policyFor([binding([`user:${'alice@example.com'}`])], 'alice@example.com').checks[0]?.status).toBe('ok');
  });
});

describe('a signed JWT and the app URL', () => {
  test('an audience that does not cover app_url is refused before anything is minted, naming both', () => {
    const error = inputError({ ...key(), audience: 'https://a.example.com/*', app_url: 'https://b.example.com/x' });
    expect(error.input).toBe('audience');
    expect(error.message).toContain("https://b.example.com/x is not covered by the signed JWT's audience https://a.example.com/*");
    expect(error.message).toContain('(app_url)');
    expect(config({ ...key(), audience: 'https://b.example.com/*', app_url: 'https://b.example.com/x' }).tokenType).toBe('signed_jwt');
  });
});

describe('the verdict on the three kinds', () => {
  const url = new URL('https://app.example.com/');
  const trial = (
    kind: 'id_token' | 'signed_jwt' | 'access_token',
    outcome: 'passed' | 'refused' | 'not-minted',
    status: number | null,
  ) => ({
    kind,
    audience: kind === 'access_token' ? '' : kind === 'id_token' ? CLIENT_ID : 'https://app.example.com/*',
    sent: undefined,
    status,
    from: status === null ? null : ('iap' as const),
    refusal: status === 401 ? ('parse' as const) : undefined,
    outcome,
    why: '',
  });

  test('only the access token passed: for a caller that cannot sign, auto falls back to it; for one that can, it does not', async () => {
    const { judge } = await import('../src/doctor/verdict.ts');
    const trials = [
      trial('id_token', 'not-minted', null),
      trial('signed_jwt', 'not-minted', null),
      { ...trial('access_token', 'passed', 200), from: 'app' as const },
    ];
    const forUser = judge(trials, config({ ...user(), app_url: url.href }), url);
    expect(forUser).toMatchObject({ works: true, tokenType: 'access_token' });
    expect(forUser.text).toContain('or leave it auto with app_url https://app.example.com, which falls back to one');
    // A service account (a key here) gets a signed JWT from auto, which never falls back: only the kind is advised.
    const forKey = judge(trials, config({ ...key(), app_url: url.href }), url);
    expect(forKey.text).toBe('an access token gets through IAP. Set token_type access_token (no audience). IAP took: an access token.');
  });

  test('an access token IAP cannot parse where a signed JWT passes: the verdict says the app takes none', async () => {
    const { judge } = await import('../src/doctor/verdict.ts');
    const trials = [{ ...trial('signed_jwt', 'passed', 200), from: 'app' as const }, trial('access_token', 'refused', 401)];
    expect(judge(trials, config({ ...key(), app_url: url.href }), url).text).toContain(
      'IAP took: a signed JWT; this app does not take access tokens.',
    );
  });
});
