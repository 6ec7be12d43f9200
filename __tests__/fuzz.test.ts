import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { privateKeyPem } from '../test-bed/fake-google/jwt.ts';
import { readActionYaml } from '../test-bed/runner.ts';

// Masking is the one side effect of reading inputs; record nothing, just keep the runner's stdout clean.
const { setMasker } = await import('../src/secrets.ts');
setMasker(() => undefined);
const { ACTION_VOCABULARY, actionInputs, readConfig: readInputs } = await import('../src/inputs/index.ts');
const readConfig = (env: Record<string, string | undefined>) => readInputs(actionInputs(env), env, ACTION_VOCABULARY);
const { InputError } = await import('../src/errors.ts');

const INPUTS = Object.keys(readActionYaml().inputs);
const PEM = privateKeyPem();
const PROVIDER = 'projects/123456789012/locations/global/workloadIdentityPools/github-pool/providers/github';
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 400);

/** Every secret a generated configuration holds: none may appear in an error. */
const SECRET_FIELDS = ['private_key', 'refresh_token', 'client_secret'];

/** Any text: ASCII, full unicode, whitespace, control characters, and large values. */
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '\n', '\t \n', 'true', 'false', 'null', '0', '-1', '1e9', '{}', '[]', '"x"'),
  fc.string({ minLength: 5_000, maxLength: 20_000 }),
);

/** Provider names one mutation away from valid. */
const nearProvider = fc.oneof(
  fc.constant(PROVIDER),
  fc
    .nat({ max: PROVIDER.length - 1 })
    .chain((i) => fc.string({ maxLength: 3 }).map((s) => PROVIDER.slice(0, i) + s + PROVIDER.slice(i + 1))),
  fc.constantFrom(
    PROVIDER.replace('123456789012', 'my-project'),
    `//iam.googleapis.com/${PROVIDER}`,
    `${PROVIDER}/`,
    PROVIDER.replace('global', 'us-east1'),
    PROVIDER.toUpperCase(),
    ` ${PROVIDER} `,
  ),
);

/** Credentials files of every type, with fields dropped or given the wrong type. */
const templates: Record<string, Record<string, unknown>> = {
  service_account: {
    type: 'service_account',
    client_email: 'sa@p.iam.gserviceaccount.com',
    private_key: PEM,
    private_key_id: 'k1',
    token_uri: 'https://oauth2.googleapis.com/token',
  },
  authorized_user: {
    type: 'authorized_user',
    client_id: 'cid.apps.googleusercontent.com',
    client_secret: 'GOCSPX-secret-value',
    refresh_token: '1//refresh-token-value',
  },
  external_account: {
    type: 'external_account',
    audience: `//iam.googleapis.com/${PROVIDER}`,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
    service_account_impersonation_url:
      'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken',
    credential_source: {
      url: 'https://token.example.com/',
      headers: { Authorization: 'Bearer header-secret-value' },
      format: { type: 'json', subject_token_field_name: 'value' },
    },
  },
  impersonated_service_account: {
    type: 'impersonated_service_account',
    service_account_impersonation_url:
      'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken',
    source_credentials: {
      type: 'authorized_user',
      client_id: 'cid',
      client_secret: 'GOCSPX-inner-secret',
      refresh_token: '1//inner-refresh',
    },
  },
};
const wrongValue = fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}), anyText);
const mangledFile = fc.constantFrom(...Object.keys(templates)).chain((type) => {
  const template = templates[type] ?? {};
  const keys = Object.keys(template);
  return fc
    .record({
      drop: fc.subarray(keys),
      retype: fc.dictionary(fc.constantFrom(...keys), wrongValue, { maxKeys: 2 }),
    })
    .map(({ drop, retype }) => {
      const file: Record<string, unknown> = { ...template, ...retype };
      for (const key of drop) delete file[key];
      return file;
    });
});

const asInput = (file: Record<string, unknown>) =>
  fc.constantFrom(JSON.stringify(file), Buffer.from(JSON.stringify(file)).toString('base64'));

function env(inputs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {
    ACTIONS_ID_TOKEN_REQUEST_URL: 'https://pipelines.example.com/oidc?api-version=2.0',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-request-token',
  };
  for (const [name, value] of Object.entries(inputs)) out[`INPUT_${name.toUpperCase()}`] = value;
  return out;
}

/** The contract of readConfig: a Config, or one InputError that names an input, on one line, quoting no secret. */
function checkOutcome(inputs: Record<string, string>, secrets: string[]): void {
  try {
    readConfig(env(inputs));
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    const { message, input } = error as InstanceType<typeof InputError>;
    expect(INPUTS.some((name) => input.includes(name)) || /^[A-Z_]+/.test(input)).toBe(true);
    expect(message).not.toMatch(/\n\s+at /);
    for (const secret of secrets.filter((s) => s.trim().length >= 8)) {
      expect(message.includes(secret.trim())).toBe(false);
      for (const line of secret.split('\n').filter((l) => l.trim().length >= 16)) expect(message.includes(line)).toBe(false);
    }
  }
}

describe('fuzzed inputs', () => {
  test('any value in any input: a config or one clear error naming an input', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...INPUTS), anyText, { maxKeys: 6 }), (inputs) => {
        checkOutcome(inputs, inputs['credentials_json'] ? [inputs['credentials_json']] : []);
      }),
      { numRuns: RUNS },
    );
  });

  test('near-valid provider names', () => {
    fc.assert(
      fc.property(nearProvider, (provider) => {
        checkOutcome(
          {
            audience: 'aud.apps.googleusercontent.com',
            workload_identity_provider: provider,
            service_account: 'sa@p.iam.gserviceaccount.com',
          },
          [],
        );
      }),
      { numRuns: RUNS },
    );
  });

  test('credentials files of every type with fields missing or mistyped never leak a secret field', () => {
    fc.assert(
      fc.property(
        mangledFile.chain((file) => asInput(file).map((raw) => ({ file, raw }))),
        ({ file, raw }) => {
          const secrets = [raw, JSON.stringify(file)];
          const collect = (value: unknown): void => {
            if (value && typeof value === 'object') {
              for (const [key, inner] of Object.entries(value)) {
                if (SECRET_FIELDS.includes(key) && typeof inner === 'string') secrets.push(inner);
                if (key === 'headers' && inner && typeof inner === 'object') secrets.push(...Object.values(inner).map(String));
                collect(inner);
              }
            }
          };
          collect(file);
          checkOutcome({ audience: 'aud.apps.googleusercontent.com', credentials_json: raw }, secrets);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('smoke-test inputs', () => {
    const urlLines = fc
      .array(
        fc.oneof(
          fc.webUrl(),
          anyText,
          fc.webUrl().map((u) => `POST ${u}`),
        ),
        { maxLength: 5 },
      )
      .map((lines) => lines.join('\n'));
    fc.assert(
      fc.property(
        fc.record(
          {
            smoke_test_urls: urlLines,
            smoke_test_headers: anyText,
            smoke_test_expected_status: anyText,
            smoke_test_retry_for: anyText,
            smoke_test_timeout: anyText,
            smoke_test_header: anyText,
          },
          { requiredKeys: ['smoke_test_urls'] },
        ),
        (smoke) => {
          checkOutcome(
            { audience: 'aud.apps.googleusercontent.com', credentials_json: JSON.stringify(templates['service_account']), ...smoke },
            [PEM],
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});
