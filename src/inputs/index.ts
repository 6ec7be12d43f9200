import type { Config, CredentialSource, SmokeTarget } from '../config.ts';
import { isEmail } from '../email.ts';
import { resolveEndpoints } from '../endpoints.ts';
import type { Env } from '../env.ts';
import { quote } from '../errors.ts';
import { audienceCovers } from '../urls.ts';
import { cannotMintAccessToken } from '../credentials/iap-access.ts';
import { cannotSign } from '../credentials/signing.ts';
import { checkSmokeCoverage, readSmokeConfig } from './smoke.ts';
import { chooseToken, readAppUrl, type KnownUrl } from './token-choice.ts';
import { readDoctorConfig } from './doctor.ts';
import { readBoolean } from './values.ts';
import { proxiedHosts, readAgentConfig, type ProxiedHosts } from './agent.ts';
import type { Context } from './context.ts';
import { readAudience, readLifetime, readUrlAudience } from './audience.ts';
import { readSource } from './source.ts';
import { INPUT_DEFAULTS, type InputName, type InputReader, type Vocabulary } from './vocabulary.ts';

export {
  ACTION_VOCABULARY,
  actionInputs,
  givenInputs,
  INPUT_DEFAULTS,
  type InputName,
  type InputReader,
  type Vocabulary,
} from './vocabulary.ts';

// Reads every input once and returns one typed `Config`. Every input error comes from here, before any request or
// side effect; each names the input in the front door's own words, says what is accepted, and never echoes a value
// that could be secret. `read` is how the front door hands over what the user gave (the action: INPUT_*; the CLI:
// its flags); `env` is the process environment, for what every Google client reads (ADC, endpoints, GitHub's OIDC).

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
  const smokeTargets = readSmokeConfig(ctx);
  const proxied = proxiedHosts(ctx);
  const known = knownUrl(ctx, appUrl, proxied, smokeTargets?.targets);
  const canSign = signingAbility(source, serviceAccount);
  const choice = chooseToken(ctx, known, canSign);
  const { tokenType } = choice;
  const audience =
    tokenType === 'signed_jwt'
      ? readUrlAudience(ctx, choice.audience)
      : choice.audienceFrom || tokenType === 'access_token'
        ? ''
        : readAudience(ctx, choice.audience);
  const unscoped = tokenType === 'access_token' ? cannotMintAccessToken(source, serviceAccount, env) : undefined;
  if (unscoped) {
    fail(
      'token_type',
      `access_token: ${unscoped}. To mint one as a service account you may impersonate, ${w.setting('service_account', 'SA_EMAIL')} (IAM generateAccessToken gives the openid and email scopes); or leave ${w.name('token_type')} auto for a signed JWT or an ID token.`,
    );
  }
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
  if (smokeTargets && tokenType === 'signed_jwt') checkSmokeCoverage(ctx, smokeTargets, (url) => audienceCovers(audience, url));
  // A signed JWT for one URL is refused at another: the app's URL, when given, must be one the audience covers.
  const uncovered = tokenType === 'signed_jwt' && appUrl ? audienceCovers(audience, appUrl) : undefined;
  if (uncovered) fail('audience', `${uncovered} (${w.name('app_url')}).`);
  const smoke = smokeTargets;
  return {
    tokenType,
    audience,
    audienceFrom: choice.audienceFrom,
    auto: choice.auto === true,
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
    agent: readAgentConfig(ctx, proxied, tokenType === 'signed_jwt' ? audience : undefined),
    nameOf: words.name,
  };
}

/** Can the caller sign a JWT (`cannotSign`), and if not, who it is, in words for the error. */
function signingAbility(source: CredentialSource, serviceAccount: string | undefined): { yes: boolean; because: string } {
  const why = cannotSign(source, serviceAccount);
  if (!why) return { yes: true, because: '' };
  return { yes: false, because: `${why === 'user' ? "a user's refresh token" : 'a key without private_key_id'} (${source.origin})` };
}

/** The app's URL, where the user gave one: app_url, else the proxy's target, a forward-proxy host, a smoke-tested URL. */
function knownUrl(
  { words: w }: Context,
  appUrl: URL | undefined,
  proxied: ProxiedHosts,
  smoke: readonly SmokeTarget[] | undefined,
): KnownUrl | undefined {
  if (appUrl) return { url: appUrl, from: w.name('app_url') };
  const target = proxied.target();
  if (target) return { url: new URL(target), from: w.name('proxy_to') };
  const host = proxied.hosts().find((name) => !name.startsWith('*.'));
  if (host) return { url: new URL(`https://${host}/`), from: w.name('proxy_hosts') };
  const tested = smoke?.find((target) => !target.deny);
  return tested ? { url: new URL(tested.url), from: w.name('smoke_test_urls') } : undefined;
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
