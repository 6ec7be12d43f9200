import { readFileSync } from 'node:fs';
import type { Config, CredentialSource, SmokeTarget, TokenType } from '../config.ts';
import { isEmail } from '../email.ts';
import { checkEndpointUrl, resolveEndpoints, type Env } from '../endpoints.ts';
import { quote } from '../errors.ts';
import { registerSecret } from '../secrets.ts';
import { audienceCovers, carriesTokens, displayUrl } from '../urls.ts';
import { cannotSign } from '../credentials/signing.ts';
import { parseCredentialsFile } from './credentials-file.ts';
import { parseCredentialsJson } from './key-file.ts';
import { checkSmokeCoverage, readSmokeConfig } from './smoke.ts';
import { chooseToken, readAppUrl, type KnownUrl } from './token-choice.ts';
import { readDoctorConfig } from './doctor.ts';
import { readBoolean } from './values.ts';
import { proxyHosts, proxyTarget, readAgentConfig } from './agent.ts';
import type { Context } from './context.ts';
import { INPUT_DEFAULTS, type InputName, type InputReader, type Vocabulary } from './vocabulary.ts';

export { ACTION_VOCABULARY, actionInputs, INPUT_DEFAULTS, type InputName, type InputReader, type Vocabulary } from './vocabulary.ts';

/**
 * Reads every input once and returns one typed `Config`. Every input error comes from here, before any request or
 * side effect; each names the input in the front door's own words, says what is accepted, and never echoes a value
 * that could be secret. `read` is how the front door hands over what the user gave (the action: INPUT_*; the CLI:
 * its flags); `env` is the process environment, for what every Google client reads (ADC, endpoints, GitHub's OIDC).
 */

const PROVIDER_PATTERN = /^projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+)$/;
const POOL_OR_PROVIDER_ID = /^[a-z0-9-]{4,32}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

export function readConfig(read: InputReader, env: Env, words: Vocabulary): Config {
  /** The value given, else action.yml's default; "" when given empty. */
  const input = (name: InputName): string => read(name) ?? INPUT_DEFAULTS[name];
  const ctx: Context = {
    env,
    input,
    words,
    fail: (name, problem) => {
      throw words.complain(words.name(name), problem);
    },
  };
  const { fail, words: w } = ctx;

  const universe = input('universe') || 'googleapis.com';
  if (!DOMAIN.test(universe)) fail('universe', `must be a domain such as googleapis.com, got ${quote(universe)}`);
  const endpoints = resolveEndpoints(universe, env, words.complain);

  const serviceAccount = optionalEmail(ctx, input('service_account'), 'service_account');
  const delegates = readDelegates(ctx, input('delegates'));
  if (delegates.length > 0 && !serviceAccount) {
    fail('delegates', `needs ${w.name('service_account')}: delegates are the chain from the caller to that service account.`);
  }
  const source = readSource(ctx, serviceAccount, endpoints.iamHost);
  const appUrl = readAppUrl(ctx);
  const smokeTargets = readSmokeConfig(input);
  const known = knownUrl(ctx, appUrl, smokeTargets?.targets);
  const canSign = signingAbility(source, serviceAccount);
  const choice = chooseToken(ctx, known, canSign);
  const { tokenType } = choice;
  const audience =
    tokenType === 'signed_jwt' ? readUrlAudience(ctx, choice.audience) : choice.audienceFrom ? '' : readAudience(ctx, choice.audience);
  const lifetimeSeconds = readLifetime(ctx, input('lifetime'), tokenType);
  const unsigned = tokenType === 'signed_jwt' ? cannotSign(source, serviceAccount) : undefined;
  if (unsigned === 'user') {
    fail(
      'service_account',
      `is required for ${w.name('token_type')} signed_jwt with a refresh token: only a service account can sign the JWT (IAM signJwt), and a user has none.`,
    );
  }
  if (unsigned === 'no-key-id') {
    throw words.complain(
      source.origin,
      'has no private_key_id: IAP finds the key that signed a JWT by its kid, so a key signing locally needs it. Use the key file as downloaded.',
    );
  }
  if (smokeTargets && tokenType === 'signed_jwt') checkSmokeCoverage(smokeTargets, (url) => audienceCovers(audience, url));
  // A signed JWT for one URL is refused at another: the app's URL, when given, must be one the audience covers.
  const uncovered = tokenType === 'signed_jwt' && appUrl ? audienceCovers(audience, appUrl) : undefined;
  if (uncovered) fail('audience', `${uncovered} (${w.name('app_url')}).`);
  const smoke = smokeTargets;
  return {
    tokenType,
    audience,
    audienceFrom: choice.audienceFrom,
    choice: choice.why,
    signedFromUrl: choice.signedFromUrl === true,
    appUrl: known?.url.href,
    doctor: readDoctorConfig(ctx, known),
    lifetimeSeconds,
    source,
    serviceAccount,
    delegates,
    includeEmail: readBoolean(ctx, input('include_email'), 'include_email', true),
    exportVariable: readExportVariable(ctx, input('export_variable')),
    universe,
    endpoints,
    smoke,
    agent: readAgentConfig(ctx, tokenType === 'signed_jwt' ? audience : undefined),
    nameOf: words.name,
  };
}

function readAudience({ fail, words }: Context, audience: string): string {
  if (!audience) {
    fail(
      'audience',
      'is required: the OAuth client ID of the IAP-protected app (…apps.googleusercontent.com). Find it in the console under Security > Identity-Aware Proxy, or in the client_id of the sign-in page IAP redirects a browser to.',
    );
  }
  if (/\s/.test(audience)) fail('audience', 'must be a single value without spaces.');
  if (/^https?:\/\//i.test(audience)) {
    fail(
      'audience',
      `is a URL, but IAP accepts ID tokens only for an OAuth client ID (…apps.googleusercontent.com). For a URL audience, ${words.setting('token_type', 'signed_jwt')}.`,
    );
  }
  return audience;
}

/** Can the caller sign a JWT (`cannotSign`), and if not, who it is, in words for the error. */
function signingAbility(source: CredentialSource, serviceAccount: string | undefined): { yes: boolean; because: string } {
  const why = cannotSign(source, serviceAccount);
  if (!why) return { yes: true, because: '' };
  return { yes: false, because: `${why === 'user' ? "a user's refresh token" : 'a key without private_key_id'} (${source.origin})` };
}

/** The app's URL, where the user gave one: app_url, else the proxy's target, a forward-proxy host, a smoke-tested URL. */
function knownUrl(ctx: Context, appUrl: URL | undefined, smoke: readonly SmokeTarget[] | undefined): KnownUrl | undefined {
  const { words: w } = ctx;
  if (appUrl) return { url: appUrl, from: w.name('app_url') };
  const target = proxyTarget(ctx);
  if (target) return { url: new URL(target), from: w.name('proxy_to') };
  const host = proxyHosts(ctx).find((name) => !name.startsWith('*.'));
  if (host) return { url: new URL(`https://${host}/`), from: w.name('proxy_hosts') };
  const tested = smoke?.find((target) => !target.deny);
  return tested ? { url: new URL(tested.url), from: w.name('smoke_test_urls') } : undefined;
}

/** The inputs that each name a credential source; at most one may be set. */
const SOURCE_INPUTS = ['credentials_json', 'workload_identity_provider', 'refresh_token'] as const;

/** IAP takes a signed JWT's audience as the app's URL, exact or with a trailing path wildcard (`https://host/*`). */
function readUrlAudience({ fail, words }: Context, audience: string): string {
  const accepted = "the app's URL, https://HOST/PATH or https://HOST/* for every path";
  const signedJwt = `with ${words.name('token_type')} signed_jwt`;
  if (!audience) fail('audience', `is required: ${signedJwt}, ${accepted}.`);
  let url: URL;
  try {
    url = new URL(audience);
  } catch {
    return fail('audience', `must be a URL ${signedJwt} (${accepted})`);
  }
  // Shown without userinfo or query, which may hold secrets.
  if (url.username || url.password) fail('audience', `must be a URL without a user name or password ${signedJwt} (${accepted})`);
  if (!carriesTokens(url)) fail('audience', `must be an https URL ${signedJwt} (${accepted}), got ${quote(displayUrl(url))}`);
  // IAP compares the audience with the URL it serves, so the audience is that URL normalised (host in lower case, no
  // default port); a wildcard is allowed only as a whole last path segment, so https://host* cannot cover host.evil.
  const normalized = `${url.origin}${url.pathname}`;
  const wildcard = normalized.indexOf('*');
  if ((wildcard !== -1 && !(wildcard === normalized.length - 1 && normalized.endsWith('/*'))) || url.search || url.hash) {
    fail('audience', `may end in /* but have no other wildcard, query or fragment (${accepted}), got ${quote(displayUrl(url))}`);
  }
  return normalized;
}

function readLifetime({ fail, words }: Context, value: string, tokenType: TokenType): number {
  if (!value) return 3600;
  if (tokenType !== 'signed_jwt') {
    fail('lifetime', `applies to ${words.name('token_type')} signed_jwt only: Google sets an ID token's lifetime (one hour).`);
  }
  const seconds = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 60 && seconds <= 3600)) {
    fail('lifetime', `must be whole seconds from 60 to 3600 (IAP refuses signed JWTs that live longer than an hour), got ${quote(value)}`);
  }
  return seconds;
}

function readSource(ctx: Context, serviceAccount: string | undefined, iamHost: string): CredentialSource {
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
      `is required: the external_account credentials in ${source.origin} have no service_account_impersonation_url, and a federated identity cannot mint ID tokens itself.`,
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
      `is required with ${words.name(name)}: a federated identity cannot mint ID tokens itself, so the action impersonates this service account.`,
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

function optionalEmail({ fail }: Context, value: string, name: InputName): string | undefined {
  if (!value) return undefined;
  if (!isEmail(value)) fail(name, `must be a service account email (NAME@PROJECT_ID.iam.gserviceaccount.com), got ${quote(value)}`);
  return value;
}

function readDelegates({ fail }: Context, value: string): string[] {
  const emails = value
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean);
  for (const email of emails) {
    if (!isEmail(email)) fail('delegates', `${quote(email)} is not a service account email; list emails separated by commas or newlines.`);
  }
  return emails;
}

function readExportVariable({ fail }: Context, value: string): string | undefined {
  if (!value) return undefined;
  if (!ENV_NAME.test(value)) {
    fail(
      'export_variable',
      `must be an environment variable name (letters, digits, underscores; not starting with a digit), got ${quote(value)}`,
    );
  }
  if (/^(GITHUB_|RUNNER_|ACTIONS_)/i.test(value) || /^(NODE_OPTIONS|PATH)$/i.test(value)) {
    fail('export_variable', `${quote(value)} is reserved by the runner; choose another name such as IAP_TOKEN.`);
  }
  return value;
}
