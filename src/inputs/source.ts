import { readFileSync } from 'node:fs';
import type { CredentialSource } from '../config.ts';
import { checkEndpointUrl } from '../endpoints.ts';
import { quote } from '../errors.ts';
import { registerSecret } from '../secrets.ts';
import { parseCredentialsFile } from './credentials-file.ts';
import { parseCredentialsJson } from './key-file.ts';
import type { Context } from './context.ts';

// The credential source (credentials_json, workload_identity_provider, refresh_token, or what the machine has:
// GOOGLE_APPLICATION_CREDENTIALS, the metadata server), read and checked as one: at most one given, each of its
// fields' shape, secrets registered as they are read.

const POOL_OR_PROVIDER_ID = /^[a-z0-9-]{4,32}$/;

const PROVIDER_PATTERN = /^projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+)$/;

/** The inputs that each name a credential source; at most one may be set. */
const SOURCE_INPUTS = ['credentials_json', 'workload_identity_provider', 'refresh_token'] as const;

export function readSource(ctx: Context, serviceAccount: string | undefined, iamHost: string): CredentialSource {
  const { env, input, words } = ctx;
  const given = SOURCE_INPUTS.filter((name) => input(name));
  if (given.length > 1) {
    const names = given.map(words.name).join(' and ');
    throw words.complain(
      names,
      `${names} are ${given.length === 2 ? 'both' : 'all'} set; give one credential source. Workload Identity Federation needs no long-lived secret, so it is the one to keep.`,
    );
  }
  for (const name of ['oauth_client_id', 'oauth_client_secret'] as const) {
    if (input(name) && !input('refresh_token')) ctx.fail(name, `goes with ${words.name('refresh_token')}, which is not set.`);
  }
  const source = readExplicitSource(ctx, serviceAccount, iamHost) ?? readAmbientSource(ctx);
  const subject = source.kind === 'external_account' ? source.subjectToken : undefined;
  if (subject?.from === 'library' && subject.kind === 'executable' && env['GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES'] !== '1') {
    throw words.complain(
      'GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES',
      `must be 1 to run the command that the credentials in ${source.origin} name (credential_source.executable), as Google's libraries require.`,
    );
  }
  if (source.kind === 'external_account' && !source.impersonate && !serviceAccount) {
    ctx.fail(
      'service_account',
      `is required: the external_account credentials in ${source.origin} have no service_account_impersonation_url, and a federated identity can mint no token IAP takes by itself (no ID token, signed JWT or access token of its own).`,
    );
  }
  return source;
}

function readExplicitSource(ctx: Context, serviceAccount: string | undefined, iamHost: string): CredentialSource | undefined {
  const { input, words, fail } = ctx;
  const credentialsJson = input('credentials_json');
  if (credentialsJson) {
    const name = words.name('credentials_json');
    return parseCredentialsFile(parseCredentialsJson(credentialsJson, name, words.complain), name, name, words.complain);
  }
  const provider = input('workload_identity_provider');
  if (provider) return readWorkloadIdentity(ctx, provider, serviceAccount, iamHost);
  if (input('workload_identity_audience')) {
    fail('workload_identity_audience', `goes with ${words.name('workload_identity_provider')}, which is not set.`);
  }
  const refreshToken = input('refresh_token');
  if (refreshToken) {
    const clientId = input('oauth_client_id');
    const clientSecret = input('oauth_client_secret');
    for (const value of [refreshToken, clientSecret, clientId]) registerSecret(value);
    for (const [name, value] of [
      ['oauth_client_id', clientId],
      ['oauth_client_secret', clientSecret],
    ] as const) {
      if (!value) {
        fail(name, `is required with ${words.name('refresh_token')}: the desktop OAuth client that obtained the refresh token.`);
      }
    }
    return {
      kind: 'refresh_token',
      clientId,
      clientSecret,
      refreshToken,
      origin: words.name('refresh_token'),
      clientOrigin: `${words.name('oauth_client_id')} and ${words.name('oauth_client_secret')}`,
    };
  }
  return undefined;
}

/** No credential input: Application Default Credentials' file, else the metadata server, as Google's libraries do. */
function readAmbientSource({ env, words }: Context): CredentialSource {
  const adc = env['GOOGLE_APPLICATION_CREDENTIALS']?.trim();
  if (adc) {
    const name = 'GOOGLE_APPLICATION_CREDENTIALS';
    let raw: string;
    try {
      raw = readFileSync(adc, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw words.complain(
        name,
        `names ${adc}, which cannot be read (${code ?? 'error'}). Point it at a credentials JSON file, or unset it.`,
      );
    }
    return parseCredentialsFile(parseCredentialsJson(raw, name, words.complain), name, `${name} (${adc})`, words.complain);
  }
  const host = env['GCE_METADATA_HOST']?.trim() || 'metadata.google.internal';
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(host)) {
    throw words.complain('GCE_METADATA_HOST', `must be host[:port] without a scheme, got ${quote(host)}`);
  }
  const origin = host === 'metadata.google.internal' ? 'the metadata server' : `the metadata server at ${host}`;
  return { kind: 'metadata', host, origin, unreachable: words.noCredential(origin), otherwise: words.otherwise };
}

function readWorkloadIdentity(ctx: Context, provider: string, serviceAccount: string | undefined, iamHost: string): CredentialSource {
  const { env, input, words, fail } = ctx;
  const name = 'workload_identity_provider';
  const accepted = 'projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER';
  if (/^(https:)?\/\/iam\./.test(provider)) {
    fail(name, `must be the resource name without the //iam.googleapis.com/ prefix: ${accepted}`);
  }
  const match = PROVIDER_PATTERN.exec(provider);
  if (!match) return fail(name, `must look like ${accepted}, got ${quote(provider)}`);
  const [, projectNumber = '', pool = '', providerId = ''] = match;
  if (!/^\d+$/.test(projectNumber)) {
    fail(
      name,
      `must use the project number, not the project ID ${quote(projectNumber)}. Find it with: gcloud projects describe ${projectNumber} --format='value(projectNumber)'`,
    );
  }
  for (const [what, id] of [
    ['pool', pool],
    ['provider', providerId],
  ] as const) {
    if (!POOL_OR_PROVIDER_ID.test(id)) {
      fail(name, `the ${what} ID ${quote(id)} is not valid: 4 to 32 lowercase letters, digits or hyphens.`);
    }
  }
  if (!serviceAccount) {
    fail(
      'service_account',
      `is required with ${words.name(name)}: a federated identity can mint no token IAP takes by itself (no ID token, signed JWT or access token of its own), so the action impersonates this service account.`,
    );
  }
  const oidcRequestUrl = env['ACTIONS_ID_TOKEN_REQUEST_URL'] ?? '';
  const oidcRequestToken = env['ACTIONS_ID_TOKEN_REQUEST_TOKEN'] ?? '';
  registerSecret(oidcRequestToken);
  if (!oidcRequestUrl || !oidcRequestToken) {
    const missing = !oidcRequestUrl ? 'ACTIONS_ID_TOKEN_REQUEST_URL is not set' : 'ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set';
    fail(
      name,
      `needs the job's GitHub OIDC token, but ${missing}. Give the job \`permissions: id-token: write\` (with contents: read). Pull requests from forks never get an OIDC token: run this on push, or on pull_request_target with care.`,
    );
  }
  checkEndpointUrl(oidcRequestUrl, 'ACTIONS_ID_TOKEN_REQUEST_URL', words.complain);
  const oidcAudience = input('workload_identity_audience') || `https://${iamHost}/${provider}`;
  return {
    kind: 'workload_identity',
    provider,
    projectNumber,
    pool,
    oidcAudience,
    oidcRequestUrl,
    oidcRequestToken,
    origin: words.name(name),
  };
}
