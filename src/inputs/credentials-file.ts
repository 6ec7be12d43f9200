import type { CredentialSource, ExternalAccountSource, ImpersonatedSource, RefreshTokenSource, SubjectTokenSource } from '../config.ts';
import { isEmail } from '../email.ts';
import { checkFileUrl } from '../endpoints.ts';
import { quote, type Complain } from '../errors.ts';
import { registerSecret } from '../secrets.ts';
import { parseServiceAccountKey } from './key-file.ts';

/**
 * Turns a Google credentials file (the `credentials_json` input, or the file GOOGLE_APPLICATION_CREDENTIALS names,
 * as google-github-actions/auth's create_credentials_file writes it) into a credential source. `input` names where
 * it came from in every error; no error quotes a secret field.
 */
export function parseCredentialsFile(json: Record<string, unknown>, input: string, origin: string, complain: Complain): CredentialSource {
  const type = json['type'] ?? 'service_account';
  switch (type) {
    case 'service_account':
      return { kind: 'service_account_key', key: parseServiceAccountKey(json, input, complain), origin };
    case 'authorized_user':
      return parseAuthorizedUser(json, input, origin, complain);
    case 'external_account':
      return parseExternalAccount(json, input, origin, complain);
    case 'impersonated_service_account':
      return parseImpersonated(json, input, origin, complain);
    default:
      throw complain(
        input,
        `has type ${JSON.stringify(type)}; accepted: service_account, authorized_user, external_account, impersonated_service_account.`,
      );
  }
}

function text(json: Record<string, unknown>, field: string): string | undefined {
  const value = json[field];
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

function required(json: Record<string, unknown>, fields: string[], input: string, what: string, complain: Complain): string[] {
  const missing = fields.filter((field) => !text(json, field));
  if (missing.length) throw complain(input, `the ${what} lack ${missing.join(', ')}.`);
  return fields.map((field) => text(json, field) ?? '');
}

function parseAuthorizedUser(json: Record<string, unknown>, input: string, origin: string, complain: Complain): RefreshTokenSource {
  const [clientId = '', clientSecret = '', refreshToken = ''] = required(
    json,
    ['client_id', 'client_secret', 'refresh_token'],
    input,
    'authorized_user credentials',
    complain,
  );
  registerSecret(clientSecret);
  registerSecret(refreshToken);
  return { kind: 'refresh_token', clientId, clientSecret, refreshToken, origin, clientOrigin: `the client in ${origin}` };
}

const STS_AUDIENCE =
  /^\/\/iam\.[a-z0-9.-]+\/(projects\/[a-z0-9-]+\/locations\/global\/workloadIdentityPools|locations\/global\/workforcePools)\/[a-z0-9-]+\/providers\/[a-z0-9-]+$/;

const IMPERSONATION_URL = /\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;

/** The service account of a `…/projects/-/serviceAccounts/EMAIL:generateAccessToken` URL. */
function impersonatedAccount(url: string, input: string, complain: Complain): string {
  checkFileUrl(url, input, 'service_account_impersonation_url', complain);
  const email = IMPERSONATION_URL.exec(new URL(url).pathname)?.[1];
  if (!email || !isEmail(decodeURIComponent(email))) {
    throw complain(input, 'service_account_impersonation_url must end in /projects/-/serviceAccounts/EMAIL:generateAccessToken.');
  }
  return decodeURIComponent(email);
}

function parseExternalAccount(json: Record<string, unknown>, input: string, origin: string, complain: Complain): ExternalAccountSource {
  const [audience = '', subjectTokenType = ''] = required(
    json,
    ['audience', 'subject_token_type'],
    input,
    'external_account credentials',
    complain,
  );
  // It names the provider in logs and STS requests: only a provider's resource name is accepted, never other text.
  if (!STS_AUDIENCE.test(audience)) {
    throw complain(
      input,
      'audience must be a Workload (or Workforce) Identity provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.',
    );
  }
  const tokenUrl = text(json, 'token_url') ?? 'https://sts.googleapis.com/v1/token';
  checkFileUrl(tokenUrl, input, 'token_url', complain);
  const impersonationUrl = text(json, 'service_account_impersonation_url');
  return {
    kind: 'external_account',
    audience,
    subjectTokenType,
    tokenUrl,
    subjectToken: parseCredentialSource(json, input, complain),
    impersonate: impersonationUrl ? impersonatedAccount(impersonationUrl, input, complain) : undefined,
    workforcePoolUserProject: text(json, 'workforce_pool_user_project'),
    origin,
  };
}

function parseCredentialSource(file: Record<string, unknown>, input: string, complain: Complain): SubjectTokenSource {
  const value = file['credential_source'];
  if (!value || typeof value !== 'object') throw complain(input, 'the external_account credentials lack credential_source.');
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
    throw complain(input, `credential_source.format.type must be text or json, got ${JSON.stringify(formatType)}.`);
  }
  let field: string | undefined;
  if (formatType === 'json') {
    field = typeof format['subject_token_field_name'] === 'string' ? format['subject_token_field_name'] : undefined;
    if (!field) throw complain(input, 'credential_source.format of type json needs subject_token_field_name.');
  }
  if (typeof source['file'] === 'string' && source['file']) return { from: 'file', path: source['file'], field };
  if (typeof source['url'] === 'string' && source['url']) {
    checkFileUrl(source['url'], input, 'credential_source.url', complain);
    const headers: Record<string, string> = {};
    for (const [name, header] of Object.entries((source['headers'] ?? {}) as Record<string, unknown>)) {
      if (typeof header !== 'string') throw complain(input, `credential_source.headers.${name} must be a string.`);
      // Header values carry bearer tokens (GitHub's request token, for one).
      registerSecret(header.replace(/^Bearer\s+/i, ''));
      headers[name.toLowerCase()] = header;
    }
    return { from: 'url', url: source['url'], headers, field };
  }
  throw complain(input, 'credential_source names no source: expected file, url, environment_id (AWS), executable or certificate.');
}

function parseImpersonated(json: Record<string, unknown>, input: string, origin: string, complain: Complain): ImpersonatedSource {
  const [url = ''] = required(json, ['service_account_impersonation_url'], input, 'impersonated_service_account credentials', complain);
  const serviceAccount = impersonatedAccount(url, input, complain);
  const sourceJson = json['source_credentials'];
  if (!sourceJson || typeof sourceJson !== 'object') {
    throw complain(input, 'the impersonated_service_account credentials lack source_credentials.');
  }
  const inner = parseCredentialsFile(sourceJson as Record<string, unknown>, `${input} (source_credentials)`, origin, complain);
  if (inner.kind !== 'service_account_key' && inner.kind !== 'refresh_token') {
    throw complain(input, 'source_credentials must be of type service_account or authorized_user.');
  }
  const delegates = (Array.isArray(json['delegates']) ? (json['delegates'] as unknown[]) : []).map((entry) => {
    const email = String(entry).replace(/^projects\/-\/serviceAccounts\//, '');
    if (!isEmail(email)) throw complain(input, `a delegates entry is not a service account email: ${quote(String(entry))}.`);
    return email;
  });
  return { kind: 'impersonated_service_account', inner, serviceAccount, delegates, origin };
}
