import { describe, expect, test } from '@jest/globals';
import { privateKeyPem, serviceAccountKeyFile } from '../test-bed/fake-google/jwt.ts';

// The runner's mask command is the only side effect of reading inputs; record it instead.
const masked: string[] = [];
const { setMasker } = await import('../src/secrets.ts');
setMasker((value) => masked.push(value));
const { ACTION_VOCABULARY, actionInputs, INPUT_DEFAULTS, readConfig: readInputs } = await import('../src/inputs/index.ts');
const { CLI_VOCABULARY } = await import('../src/cli/vocabulary.ts');
/** The action's way: INPUT_* from the environment, in the action's words. */
const readConfig = (env: Record<string, string | undefined>) => readInputs(actionInputs(env), env, ACTION_VOCABULARY);
const { InputError } = await import('../src/errors.ts');

const PROVIDER = 'projects/123456789012/locations/global/workloadIdentityPools/github-pool/providers/github';
const AUDIENCE = '1234-abc.apps.googleusercontent.com';
const keyFile = serviceAccountKeyFile('deployer@my-project.iam.gserviceaccount.com', undefined, { private_key_id: 'abc123' });

const env = (inputs: Record<string, string>, extra: Record<string, string> = {}) => ({
  ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
  ...extra,
});
const oidc = {
  ACTIONS_ID_TOKEN_REQUEST_URL: 'https://pipelines.actions.githubusercontent.com/x?api-version=2.0',
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-token-123',
};

function inputError(inputs: Record<string, string>, extra: Record<string, string> = {}): InstanceType<typeof InputError> {
  try {
    readConfig(env(inputs, extra));
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InstanceType<typeof InputError>;
  }
  throw new Error('expected an input error');
}

describe('a service-account key', () => {
  test('as JSON, with defaults for every optional input', () => {
    const config = readConfig(env({ audience: AUDIENCE, credentials_json: JSON.stringify(keyFile) }));
    expect(config).toMatchObject({
      audience: AUDIENCE,
      serviceAccount: undefined,
      delegates: [],
      includeEmail: true,
      // Not given at all: action.yml's default, as a runner that does not fill defaults (local-action) still exports.
      exportVariable: 'IAP_TOKEN',
      universe: 'googleapis.com',
      endpoints: {
        oauth2: 'https://oauth2.googleapis.com',
        sts: 'https://sts.googleapis.com/v1',
        iamcredentials: 'https://iamcredentials.googleapis.com/v1',
      },
    });
    expect(config.source.kind).toBe('service_account_key');
    if (config.source.kind === 'service_account_key') {
      expect(config.source.key).toMatchObject({
        clientEmail: keyFile['client_email'],
        privateKeyId: 'abc123',
        tokenUri: 'https://oauth2.googleapis.com/token',
      });
    }
  });

  test('the raw input and every line of the private key are masked as soon as they are read', () => {
    masked.length = 0;
    // A key no other test has registered (the registry masks each value once per process).
    const fresh = {
      ...keyFile,
      private_key: privateKeyPem(),
    };
    const raw = JSON.stringify(fresh);
    readConfig(env({ audience: AUDIENCE, credentials_json: raw }));
    expect(masked).toContain(raw);
    const body = (fresh.private_key ?? '').split('\n').filter((line) => line.length > 10 && !line.startsWith('-----'));
    for (const line of body) expect(masked).toContain(line);
  });

  test('as base64, and with literal \\n sequences in the key', () => {
    const escaped = { ...keyFile, private_key: (keyFile['private_key'] ?? '').replace(/\n/g, '\\n') };
    const base64 = Buffer.from(JSON.stringify(escaped)).toString('base64');
    expect(readConfig(env({ audience: AUDIENCE, credentials_json: base64 })).source.kind).toBe('service_account_key');
  });

  test('of an unknown type is refused, listing the accepted ones', () => {
    expect(inputError({ audience: AUDIENCE, credentials_json: JSON.stringify({ ...keyFile, type: 'aws_key' }) }).message).toContain(
      'has type "aws_key"; accepted: service_account, authorized_user, external_account, impersonated_service_account.',
    );
  });

  test('whose token_uri is not https is refused', () => {
    const error = inputError({
      audience: AUDIENCE,
      credentials_json: JSON.stringify({ ...keyFile, token_uri: 'http://evil.example.com/token' }),
    });
    expect(error.message).toContain('Input credentials_json: token_uri must be an https:// URL');
  });
});

test('a key nested in an impersonated_service_account file is masked line by line', () => {
  masked.length = 0;
  const nested = privateKeyPem();
  const file = {
    type: 'impersonated_service_account',
    service_account_impersonation_url:
      'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken',
    source_credentials: { ...keyFile, private_key: nested },
  };
  readConfig(env({ audience: AUDIENCE, credentials_json: JSON.stringify(file) }));
  for (const line of nested.split('\n').filter((l) => l.length > 10 && !l.startsWith('-----'))) expect(masked).toContain(line);
});

test('a long or structured value in the wrong input is described, not echoed', () => {
  const message = inputError({
    audience: AUDIENCE,
    credentials_json: JSON.stringify(keyFile),
    service_account: JSON.stringify(keyFile),
  }).message;
  expect(message).toMatch(/got a \d+-character value \(not shown: it may be a secret\)/);
  expect(message).not.toContain('PRIVATE');
});

describe('Workload Identity Federation', () => {
  test('a provider, a service account and the OIDC variables', () => {
    const config = readConfig(
      env(
        {
          audience: AUDIENCE,
          workload_identity_provider: PROVIDER,
          service_account: 'sa@p.iam.gserviceaccount.com',
          delegates: 'a@p.iam.gserviceaccount.com, b@p.iam.gserviceaccount.com\n',
        },
        oidc,
      ),
    );
    expect(config.delegates).toEqual(['a@p.iam.gserviceaccount.com', 'b@p.iam.gserviceaccount.com']);
    expect(config.source).toMatchObject({
      kind: 'workload_identity',
      projectNumber: '123456789012',
      pool: 'github-pool',
      oidcAudience: `https://iam.googleapis.com/${PROVIDER}`,
    });
  });

  test("the runner's OIDC request token is masked", () => {
    masked.length = 0;
    const fresh = { ...oidc, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-token-fresh' };
    readConfig(env({ audience: AUDIENCE, workload_identity_provider: PROVIDER, service_account: 'sa@p.iam.gserviceaccount.com' }, fresh));
    expect(masked).toEqual(['runner-token-fresh']);
  });

  test('another universe changes every endpoint and the audience', () => {
    const config = readConfig(
      env(
        {
          audience: AUDIENCE,
          workload_identity_provider: PROVIDER,
          service_account: 'sa@p.iam.gserviceaccount.com',
          universe: 's3nsapis.fr',
        },
        oidc,
      ),
    );
    expect(config.endpoints).toMatchObject({ sts: 'https://sts.s3nsapis.fr/v1', iamHost: 'iam.s3nsapis.fr' });
    expect(config.source).toMatchObject({ oidcAudience: `https://iam.s3nsapis.fr/${PROVIDER}` });
  });

  test('an endpoint override replaces one API, trailing slash dropped', () => {
    const config = readConfig(
      env(
        { audience: AUDIENCE, workload_identity_provider: PROVIDER, service_account: 'sa@p.iam.gserviceaccount.com' },
        { ...oidc, GHA_ENDPOINT_OVERRIDE_sts: 'https://sts.internal.example/v1/' },
      ),
    );
    expect(config.endpoints.sts).toBe('https://sts.internal.example/v1');
    expect([...config.endpoints.overridden]).toEqual(['sts']);
  });
});

describe('errors name the input and never echo a secret', () => {
  test.each([
    [{}, 'Input audience: is required'],
    [{ audience: 'a b' }, 'Input audience: must be a single value'],
    [{ audience: AUDIENCE, credentials_json: 'hunter2-not-json' }, 'Input credentials_json: is neither JSON nor base64-encoded JSON'],
    [{ audience: AUDIENCE, credentials_json: '[1,2]' }, 'Input credentials_json: is neither JSON'],
    [{ audience: AUDIENCE, workload_identity_audience: 'x' }, 'goes with workload_identity_provider'],
    [{ audience: AUDIENCE, credentials_json: '{"client_email":"a@b.c"}' }, 'lacks private_key'],
    [{ audience: AUDIENCE, workload_identity_provider: PROVIDER }, 'Input service_account: is required with workload_identity_provider'],
    [
      {
        audience: AUDIENCE,
        workload_identity_provider: 'projects/1/locations/global/workloadIdentityPools/abc/providers/github',
        service_account: 'a@b.co',
      },
      'the pool ID "abc" is not valid',
    ],
    [
      {
        audience: AUDIENCE,
        workload_identity_provider: PROVIDER,
        service_account: 'sa@p.iam.gserviceaccount.com',
        delegates: 'a@b.co, nope',
      },
      'Input delegates: "nope" is not',
    ],
    [
      {
        audience: AUDIENCE,
        workload_identity_provider: PROVIDER,
        service_account: 'sa@p.iam.gserviceaccount.com',
        include_email: 'TRUE-ish',
      },
      'Input include_email',
    ],
    [
      {
        audience: AUDIENCE,
        workload_identity_provider: PROVIDER,
        service_account: 'sa@p.iam.gserviceaccount.com',
        export_variable: 'NODE_OPTIONS',
      },
      'reserved',
    ],
  ])('%o', (inputs, message) => {
    expect(inputError(inputs, oidc).message).toContain(message);
  });

  test('no OIDC variables: the permission to add', () => {
    const error = inputError({ audience: AUDIENCE, workload_identity_provider: PROVIDER, service_account: 'sa@p.iam.gserviceaccount.com' });
    expect(error.input).toBe('workload_identity_provider');
    expect(error.message).toContain('permissions: id-token: write');
  });

  test('a bad credentials_json is never quoted, whole or in part', () => {
    const secret = 'c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw-but-not-base64!';
    expect(inputError({ audience: AUDIENCE, credentials_json: secret }).message).not.toContain(secret.slice(0, 10));
  });

  test('true and false in any case', () => {
    const base = { audience: AUDIENCE, credentials_json: JSON.stringify(keyFile) };
    expect(readConfig(env({ ...base, include_email: 'FALSE' })).includeEmail).toBe(false);
    expect(readConfig(env({ ...base, include_email: 'True' })).includeEmail).toBe(true);
  });
});

describe('unset inputs and empty inputs', () => {
  test('an input that is not given takes action.yml default; one given empty means none', () => {
    const base = { audience: AUDIENCE, credentials_json: JSON.stringify(keyFile) };
    expect(readConfig(env(base)).exportVariable).toBe('IAP_TOKEN');
    expect(readConfig(env({ ...base, export_variable: '' })).exportVariable).toBeUndefined();
    expect(readConfig(env({ ...base, export_variable: 'MY_TOKEN' })).exportVariable).toBe('MY_TOKEN');
  });

  test('readConfig reads every input it declares, and through the reader only (never INPUT_* itself)', () => {
    const asked = new Set<string>();
    const given: Record<string, string> = {
      audience: AUDIENCE,
      workload_identity_provider: PROVIDER,
      service_account: 'sa@p.iam.gserviceaccount.com',
    };
    // The environment carries INPUT_* that must be ignored: only the reader speaks for the front door.
    const config = readInputs(
      (name) => {
        asked.add(name);
        return given[name];
      },
      { ...oidc, INPUT_AUDIENCE: 'ignored', INPUT_TOKEN_TYPE: 'signed_jwt' },
      ACTION_VOCABULARY,
    );
    expect([...asked].sort()).toEqual(Object.keys(INPUT_DEFAULTS).sort());
    expect([config.audience, config.tokenType]).toEqual([AUDIENCE, 'id_token']);
  });
});

describe("the CLI's words", () => {
  const cli = (values: Record<string, string>, environment: Record<string, string> = {}) => {
    try {
      readInputs((name) => values[name], environment, CLI_VOCABULARY);
    } catch (error) {
      expect(error).toBeInstanceOf(InputError);
      return (error as Error).message;
    }
    throw new Error('expected an input error');
  };

  test('errors name flags, never action inputs', () => {
    expect(cli({})).toMatch(/^--audience: is required, or the app's URL \(--url\)/);
    expect(cli({ audience: 'https://app.example.com/', token_type: 'id_token' })).toContain('use --token-type signed_jwt');
    expect(cli({ audience: AUDIENCE, lifetime: '600' })).toMatch(/^--lifetime: applies to --token-type signed_jwt only/);
    expect(cli({ audience: AUDIENCE, refresh_token: 'a-refresh-token-value' })).toMatch(/^--client-id: is required with --refresh-token/);
    expect(cli({ audience: AUDIENCE, delegates: 'a@p.iam.gserviceaccount.com' })).toBe(
      '--delegates: needs --service-account: delegates are the chain from the caller to that service account.',
    );
    expect(cli({ audience: AUDIENCE, credentials_json: '{"type":"service_account"}' })).toMatch(
      /^--credentials-file: the service-account key lacks/,
    );
    const both = cli({ audience: AUDIENCE, credentials_json: JSON.stringify(keyFile), refresh_token: 'a-refresh-token-value' });
    expect(both).toMatch(/^--credentials-file and --refresh-token are both set/);
    for (const message of [both, cli({}), cli({ audience: AUDIENCE, lifetime: '600' })]) {
      expect(message).not.toMatch(/\b(token_type|credentials_json|refresh_token|service_account|Input )/);
    }
  });

  test('environment variables are named as they are, without the action\'s "Input"', () => {
    expect(cli({ audience: AUDIENCE }, { GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/adc.json' })).toMatch(
      /^GOOGLE_APPLICATION_CREDENTIALS: names \/nonexistent\/adc.json, which cannot be read/,
    );
    expect(cli({ audience: AUDIENCE }, { GCE_METADATA_HOST: 'http://x' })).toMatch(/^GCE_METADATA_HOST: must be host\[:port\]/);
  });

  test('with no credential, the metadata server is asked with advice for a laptop', () => {
    const config = readInputs((name) => ({ audience: AUDIENCE })[name as 'audience'], {}, CLI_VOCABULARY);
    expect(config.source.kind).toBe('metadata');
    const advice = config.source.kind === 'metadata' ? config.source.unreachable : '';
    expect(advice).toContain('gcloud auth application-default login');
    expect(advice).toContain('iap-token login');
    expect(advice).not.toContain('workload_identity_provider');
  });
});

// proxy_to and proxy_hosts are read once, when first needed: the first error a user sees is the one it always was.
describe('the order inputs are checked in', () => {
  const key = JSON.stringify(keyFile);
  test('with app_url, a bad token_type is reported before a bad proxy_hosts', () => {
    const error = inputError({ credentials_json: key, app_url: 'https://app.example.com', token_type: 'bogus', proxy_hosts: '10.0.0.1' });
    expect(error.input).toBe('token_type');
  });
  test('with proxy_to, a bad proxy_listen is reported before a bad proxy_hosts', () => {
    const error = inputError({
      credentials_json: key,
      proxy_to: 'https://app.example.com',
      proxy_listen: 'nowhere',
      proxy_hosts: '10.0.0.1',
    });
    expect(error.input).toBe('proxy_listen');
  });
  test('a bad proxy_hosts alone is still reported', () => {
    expect(inputError({ credentials_json: key, proxy_hosts: '10.0.0.1' }).input).toBe('proxy_hosts');
  });
});
