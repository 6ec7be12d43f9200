import type { CredentialSource, ExternalAccountSource, ImpersonatedSource, RefreshTokenSource, SubjectTokenSource } from '../config.ts';
import { checkEndpointUrl } from '../endpoints.ts';
import { InputError, quote } from '../errors.ts';
import { registerSecret } from '../secrets.ts';
import { isEmail, parseServiceAccountKey } from './key-file.ts';

/**
 * Turns a Google credentials file (the `credentials_json` input, or the file GOOGLE_APPLICATION_CREDENTIALS names,
 * as google-github-actions/auth's create_credentials_file writes it) into a credential source. `input` names where
 * it came from in every error; no error quotes a secret field.
 */
export function parseCredentialsFile(json: Record<string, unknown>, input: string, origin: string): CredentialSource {
  const type = json['type'] ?? 'service_account';
  switch (type) {
    case 'service_account': {
      const key = parseServiceAccountKey(json, input);
      if (key.tokenUri) checkEndpointUrl(key.tokenUri, `${input} (token_uri)`);
      return { kind: 'service_account_key', key, origin };
    }
    case 'authorized_user':
      return parseAuthorizedUser(json, input, origin);
    case 'external_account':
      return parseExternalAccount(json, input, origin);
    case 'impersonated_service_account':
      return parseImpersonated(json, input, origin);
    default:
      throw new InputError(
        input,
        `has type ${JSON.stringify(type)}; accepted: service_account, authorized_user, external_account, impersonated_service_account.`,
      );
  }
}

function text(json: Record<string, unknown>, field: string): string | undefined {
  const value = json[field];
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

function required(json: Record<string, unknown>, fields: string[], input: string, what: string): string[] {
  const missing = fields.filter((field) => !text(json, field));
  if (missing.length) throw new InputError(input, `the ${what} lack ${missing.join(', ')}.`);
  return fields.map((field) => text(json, field) ?? '');
}

function parseAuthorizedUser(json: Record<string, unknown>, input: string, origin: string): RefreshTokenSource {
  const [clientId = '', clientSecret = '', refreshToken = ''] = required(
    json,
    ['client_id', 'client_secret', 'refresh_token'],
    input,
    'authorized_user credentials',
  );
  registerSecret(clientSecret);
  registerSecret(refreshToken);
  return { kind: 'refresh_token', clientId, clientSecret, refreshToken, origin };
}

const IMPERSONATION_URL = /\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;

/** The service account of a `…/projects/-/serviceAccounts/EMAIL:generateAccessToken` URL. */
function impersonatedAccount(url: string, input: string): string {
  checkEndpointUrl(url, `${input} (service_account_impersonation_url)`);
  const email = IMPERSONATION_URL.exec(new URL(url).pathname)?.[1];
  if (!email || !isEmail(decodeURIComponent(email))) {
    throw new InputError(input, 'service_account_impersonation_url must end in /projects/-/serviceAccounts/EMAIL:generateAccessToken.');
  }
  return decodeURIComponent(email);
}

function parseExternalAccount(json: Record<string, unknown>, input: string, origin: string): ExternalAccountSource {
  const [audience = '', subjectTokenType = ''] = required(json, ['audience', 'subject_token_type'], input, 'external_account credentials');
  const tokenUrl = text(json, 'token_url') ?? 'https://sts.googleapis.com/v1/token';
  checkEndpointUrl(tokenUrl, `${input} (token_url)`);
  const impersonationUrl = text(json, 'service_account_impersonation_url');
  return {
    kind: 'external_account',
    audience,
    subjectTokenType,
    tokenUrl,
    subjectToken: parseCredentialSource(json, input),
    impersonate: impersonationUrl ? impersonatedAccount(impersonationUrl, input) : undefined,
    workforcePoolUserProject: text(json, 'workforce_pool_user_project'),
    origin,
  };
}

function parseCredentialSource(file: Record<string, unknown>, input: string): SubjectTokenSource {
  const value = file['credential_source'];
  if (!value || typeof value !== 'object') throw new InputError(input, 'the external_account credentials lack credential_source.');
  const source = value as Record<string, unknown>;
  const libraryKind = source['environment_id']
    ? 'aws'
    : source['executable']
      ? 'executable'
      : source['certificate']
        ? 'certificate'
        : undefined;
  if (libraryKind) return { from: 'library', kind: libraryKind, file };
  const format = (source['format'] ?? {}) as Record<string, unknown>;
  const formatType = format['type'] ?? 'text';
  if (formatType !== 'text' && formatType !== 'json') {
    throw new InputError(input, `credential_source.format.type must be text or json, got ${JSON.stringify(formatType)}.`);
  }
  let field: string | undefined;
  if (formatType === 'json') {
    field = typeof format['subject_token_field_name'] === 'string' ? format['subject_token_field_name'] : undefined;
    if (!field) throw new InputError(input, 'credential_source.format of type json needs subject_token_field_name.');
  }
  if (typeof source['file'] === 'string' && source['file']) return { from: 'file', path: source['file'], field };
  if (typeof source['url'] === 'string' && source['url']) {
    checkEndpointUrl(source['url'], `${input} (credential_source.url)`);
    const headers: Record<string, string> = {};
    for (const [name, header] of Object.entries((source['headers'] ?? {}) as Record<string, unknown>)) {
      if (typeof header !== 'string') throw new InputError(input, `credential_source.headers.${name} must be a string.`);
      // Header values carry bearer tokens (GitHub's request token, for one).
      registerSecret(header.replace(/^Bearer\s+/i, ''));
      headers[name.toLowerCase()] = header;
    }
    return { from: 'url', url: source['url'], headers, field };
  }
  throw new InputError(input, 'credential_source names no source: expected file, url, environment_id (AWS), executable or certificate.');
}

function parseImpersonated(json: Record<string, unknown>, input: string, origin: string): ImpersonatedSource {
  const [url = ''] = required(json, ['service_account_impersonation_url'], input, 'impersonated_service_account credentials');
  const serviceAccount = impersonatedAccount(url, input);
  const sourceJson = json['source_credentials'];
  if (!sourceJson || typeof sourceJson !== 'object') {
    throw new InputError(input, 'the impersonated_service_account credentials lack source_credentials.');
  }
  const inner = parseCredentialsFile(sourceJson as Record<string, unknown>, `${input} (source_credentials)`, origin);
  if (inner.kind !== 'service_account_key' && inner.kind !== 'refresh_token') {
    throw new InputError(input, 'source_credentials must be of type service_account or authorized_user.');
  }
  const delegates = (Array.isArray(json['delegates']) ? (json['delegates'] as unknown[]) : []).map((entry) => {
    const email = String(entry).replace(/^projects\/-\/serviceAccounts\//, '');
    if (!isEmail(email)) throw new InputError(input, `a delegates entry is not a service account email: ${quote(String(entry))}.`);
    return email;
  });
  return { kind: 'impersonated_service_account', inner, serviceAccount, delegates, origin };
}
