import { describe, expect, test } from '@jest/globals';
import { expectFailure, INVOKER, PROVIDER, useWorld } from './e2e-helpers.ts';
import { runInProcess } from './in-process.ts';

/**
 * Every bad input of the action, through its `run()` in this process (inputs from INPUT_*, action.yml's defaults
 * filled as the runner fills them, the log read as the runner reads it): the step's one error, in its words. These
 * were e2e tests that ran the bundle once per input; what only a process shows (exit code 1, the `::error::` line,
 * no stack trace, nothing published) is proved once, by e2e-inputs.test.ts.
 */

const world = useWorld();

/** Each bad input: one error naming the input, no request made, nothing published, no secret shown. */
async function inputError(inputs: Record<string, string>, env: Record<string, string> = {}): Promise<string> {
  const result = await runInProcess(world, inputs, { env });
  // Exit code 1, one error, no output and no variable; runInProcess has checked that no secret is visible.
  const error = expectFailure(result);
  expect(result.state).toBe('');
  expect(world.fake.count()).toBe(0);
  expect(error).not.toMatch(/\n\s+at /); // no stack trace
  return error;
}

const key = () => JSON.stringify(world.deployerKey);

describe('every input is checked before any request', () => {
  test('no audience', async () => {
    expect(await inputError({ credentials_json: key() })).toMatch(/^Input audience: is required, or the app's URL \(app_url\)/);
  });

  test('a URL as audience', async () => {
    expect(await inputError({ audience: 'https://app.example.com', token_type: 'id_token', credentials_json: key() })).toContain(
      'Input audience: is a URL',
    );
  });

  test('both credential sources, named both', async () => {
    const error = await inputError({
      audience: world.audience,
      credentials_json: key(),
      workload_identity_provider: PROVIDER,
      service_account: INVOKER,
    });
    expect(error).toContain('credentials_json');
    expect(error).toContain('workload_identity_provider');
  });

  test('workload_identity_provider without service_account', async () => {
    expect(await inputError({ audience: world.audience, workload_identity_provider: PROVIDER })).toContain(
      'Input service_account: is required with workload_identity_provider',
    );
  });

  test.each([
    [
      'projects/my-project/locations/global/workloadIdentityPools/github-pool/providers/github',
      'must use the project number, not the project ID "my-project"',
    ],
    [`//iam.googleapis.com/${PROVIDER}`, 'without the //iam.googleapis.com/ prefix'],
    ['projects/123/locations/us-east1/workloadIdentityPools/p/providers/x', 'must look like projects/PROJECT_NUMBER/locations/global/'],
    ['projects/123/locations/global/workloadIdentityPools/GitHub_Pool/providers/github', 'the pool ID "GitHub_Pool" is not valid'],
  ])('a malformed provider name: %s', async (provider, message) => {
    expect(await inputError({ audience: world.audience, workload_identity_provider: provider, service_account: INVOKER })).toContain(
      message,
    );
  });

  test('no ACTIONS_ID_TOKEN_REQUEST_URL: explains id-token: write and forks', async () => {
    const error = await inputError(
      { audience: world.audience, workload_identity_provider: PROVIDER, service_account: INVOKER },
      { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' },
    );
    expect(error).toContain('permissions: id-token: write');
    expect(error).toContain('forks');
  });

  test('credentials_json that is neither JSON nor base64 JSON is never echoed', async () => {
    const secretish = '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEsecretsecret';
    const result = await runInProcess(world, { audience: world.audience, credentials_json: secretish });
    const error = expectFailure(result);
    expect(error).toBe(
      'Input credentials_json: is neither JSON nor base64-encoded JSON. Paste the whole key file (or its base64) into a secret.',
    );
    expect(result.visibleLog.join('\n')).not.toContain('MIIEsecretsecret');
    expect(world.fake.count()).toBe(0);
  });

  test.each([
    ['client_email', 'lacks client_email'],
    ['private_key', 'lacks private_key'],
  ])('a key without %s', async (field, message) => {
    const partial: Record<string, string> = { ...world.deployerKey };
    delete partial[field];
    const error = await inputError({ audience: world.audience, credentials_json: JSON.stringify(partial) });
    expect(error).toContain(message);
    expect(error).not.toContain('BEGIN PRIVATE KEY');
  });

  test('a key whose private_key is not a key', async () => {
    const broken = { ...world.deployerKey, private_key: '-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n' };
    const error = await inputError({ audience: world.audience, credentials_json: JSON.stringify(broken) });
    expect(error).toContain('private_key is not a PEM-encoded private key');
    expect(error).not.toContain('not-a-key');
  });

  test.each([
    [{ delegates: 'relay@my-project.iam.gserviceaccount.com' }, 'Input delegates: needs service_account'],
    [{ service_account: 'not-an-email' }, 'Input service_account: must be a service account email'],
    [{ include_email: 'yes please' }, 'Input include_email: must be true or false'],
    [{ export_variable: '1TOKEN' }, 'Input export_variable: must be an environment variable name'],
    [{ export_variable: 'GITHUB_TOKEN' }, 'is reserved by the runner'],
    [{ universe: 'not a domain' }, 'Input universe: must be a domain'],
  ])('%o', async (extra, message) => {
    expect(await inputError({ audience: world.audience, credentials_json: key(), ...extra })).toContain(message);
  });

  test('an endpoint override that is not https', async () => {
    const error = await inputError(
      { audience: world.audience, credentials_json: key() },
      { GHA_ENDPOINT_OVERRIDE_sts: 'http://sts.example.com/v1' },
    );
    expect(error).toContain('Input GHA_ENDPOINT_OVERRIDE_sts: must be an https:// URL');
  });
});

describe("the agent's inputs (keep_fresh, proxy_to, proxy_hosts) are checked before any request", () => {
  test.each<[Record<string, string>, string]>([
    [{ proxy_to: 'https://app.example.com/api' }, 'Input proxy_to: must be an origin such as https://app.example.com'],
    [
      { proxy_to: 'https://user:pw@app.example.com' },
      'Input proxy_to: must be an origin such as https://app.example.com (no path, query or user name); it carries a user name or password',
    ],
    [{ proxy_to: 'http://app.example.com' }, 'Input proxy_to: must be https'],
    [{ proxy_to: 'https://app.example.com', proxy_header: 'x-token' }, 'Input proxy_header: must be authorization or proxy-authorization'],
    [{ proxy_to: 'https://app.example.com', proxy_listen: '0.0.0.0' }, 'Input proxy_listen: must be HOST:PORT'],
    [{ proxy_to: 'https://app.example.com', proxy_listen: '999.1.1.1:8080' }, 'Input proxy_listen: must be HOST:PORT'],
    [{ keep_fresh: 'yes' }, 'Input keep_fresh: must be true or false'],
    [
      { proxy_to: 'https://app.example.com', token_type: 'signed_jwt', audience: 'https://app.example.com/api/*' },
      'Input audience: must be https://app.example.com/* with a proxy',
    ],
  ])('bad proxy input %o', async (inputs, message) => {
    const error = await inputError({ audience: world.audience, credentials_json: key(), ...inputs });
    expect(error).toContain(message);
    expect(error).not.toContain('pw@');
  });

  test.each([
    ['10.0.0.1', 'is an IP address'],
    ['app.example.com:8443', 'has a port'],
    ['https://app.example.com', 'has a scheme'],
    ['*.*.example.com', 'a wildcard stands only for the first label'],
    ['*.com', 'is not a host name'],
    ['app_example', 'is not a host name'],
  ])('bad proxy_hosts %s', async (hosts, message) => {
    expect(await inputError({ audience: world.audience, credentials_json: key(), proxy_hosts: hosts })).toContain(message);
  });
});
