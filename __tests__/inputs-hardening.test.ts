import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceAccountKeyFile } from '../test-bed/fake-google/jwt.ts';

/**
 * Every URL a credentials file names that a credential or token is sent to is held to the rule endpoint overrides are
 * (https, or http to this machine only), and the error names the input the file came from, in each front door's
 * words, then the file's field: never the URL's user name, password or query.
 */

const { setMasker } = await import('../src/secrets.ts');
setMasker(() => undefined);
const { ACTION_VOCABULARY, actionInputs, readConfig } = await import('../src/inputs/index.ts');
const { CLI_VOCABULARY } = await import('../src/cli/vocabulary.ts');
const { InputError } = await import('../src/errors.ts');

const AUDIENCE = '1234-abc.apps.googleusercontent.com';
const INVOKER = 'invoker@my-project.iam.gserviceaccount.com';
const PROVIDER = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github-pool/providers/github';
const HTTPS_RULE = 'must be an https:// URL (http:// is accepted only for localhost), got http://evil.example';
/** A plain-http URL with what an error must never show: a user name, a password and a query. */
const EVIL = 'http://user:pw@evil.example/token?key=s3cret';

const key = serviceAccountKeyFile('deployer@my-project.iam.gserviceaccount.com');

const externalAccount = (fields: Record<string, unknown> = {}) => ({
  type: 'external_account',
  audience: PROVIDER,
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  token_url: 'https://sts.googleapis.com/v1/token',
  service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
  credential_source: { file: '/var/run/token' },
  ...fields,
});

/** The error reading this credentials file gives, in the action's words (credentials_json) or the CLI's. */
function refusal(file: object, vocabulary = ACTION_VOCABULARY, environment: Record<string, string> = {}): InstanceType<typeof InputError> {
  const inputs: Record<string, string> = { audience: AUDIENCE, credentials_json: JSON.stringify(file) };
  try {
    readConfig((name) => inputs[name], environment, vocabulary);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    const refused = error as InstanceType<typeof InputError>;
    for (const hidden of ['user', 'pw', 's3cret']) expect(refused.message).not.toContain(hidden);
    return refused;
  }
  throw new Error('expected an input error');
}

describe('a service-account key', () => {
  test("a plain-http token_uri elsewhere: credentials_json's field, in the action's words", () => {
    const error = refusal({ ...key, token_uri: EVIL });
    expect(error.message).toBe(`Input credentials_json: token_uri ${HTTPS_RULE}`);
    expect(error.input).toBe('credentials_json');
  });

  test('the same in the CLI\'s words: --credentials-file, no "Input"', () => {
    const error = refusal({ ...key, token_uri: EVIL }, CLI_VOCABULARY);
    expect(error.message).toBe(`--credentials-file: token_uri ${HTTPS_RULE}`);
    expect(error.input).toBe('--credentials-file');
  });

  test('a token_uri that is not a URL', () => {
    expect(refusal({ ...key, token_uri: 'oauth2.googleapis.com/token' }).message).toBe(
      'Input credentials_json: token_uri is not a URL; expected https://host[/path]',
    );
  });

  test('a key that GOOGLE_APPLICATION_CREDENTIALS names: that variable, then the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iap-token-adc-'));
    try {
      const file = join(dir, 'key.json');
      writeFileSync(file, JSON.stringify({ ...key, token_uri: EVIL }));
      const env = { GOOGLE_APPLICATION_CREDENTIALS: file, INPUT_AUDIENCE: AUDIENCE };
      expect(() => readConfig(actionInputs(env), env, ACTION_VOCABULARY)).toThrow(
        `Input GOOGLE_APPLICATION_CREDENTIALS: token_uri ${HTTPS_RULE}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a token_uri on this machine is accepted, as the test bed and local fakes need', () => {
    for (const tokenUri of ['http://127.0.0.1:8080/token', 'http://localhost/token', 'http://[::1]:9/token']) {
      const inputs: Record<string, string> = { audience: AUDIENCE, credentials_json: JSON.stringify({ ...key, token_uri: tokenUri }) };
      const config = readConfig((name) => inputs[name], {}, ACTION_VOCABULARY);
      expect(config.source.kind === 'service_account_key' ? config.source.key.tokenUri : undefined).toBe(tokenUri);
    }
  });
});

describe("other credentials files' URLs", () => {
  test('external_account: token_url, service_account_impersonation_url and credential_source.url', () => {
    expect(refusal(externalAccount({ token_url: EVIL })).message).toBe(`Input credentials_json: token_url ${HTTPS_RULE}`);
    expect(refusal(externalAccount({ service_account_impersonation_url: EVIL })).message).toBe(
      `Input credentials_json: service_account_impersonation_url ${HTTPS_RULE}`,
    );
    expect(refusal(externalAccount({ credential_source: { url: EVIL } })).message).toBe(
      `Input credentials_json: credential_source.url ${HTTPS_RULE}`,
    );
    expect(refusal(externalAccount({ token_url: EVIL }), CLI_VOCABULARY).message).toBe(`--credentials-file: token_url ${HTTPS_RULE}`);
  });

  test("impersonated_service_account: its impersonation URL, and its source key's token_uri", () => {
    const impersonated = (fields: Record<string, unknown>) => ({
      type: 'impersonated_service_account',
      service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${INVOKER}:generateAccessToken`,
      source_credentials: key,
      ...fields,
    });
    expect(refusal(impersonated({ service_account_impersonation_url: EVIL })).message).toBe(
      `Input credentials_json: service_account_impersonation_url ${HTTPS_RULE}`,
    );
    expect(refusal(impersonated({ source_credentials: { ...key, token_uri: EVIL } })).message).toBe(
      `Input credentials_json (source_credentials): token_uri ${HTTPS_RULE}`,
    );
  });
});
