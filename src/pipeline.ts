import { accessTokenFallback, tryAccessToken, type AccessTokenFallback } from './access-fallback.ts';
import type { Config } from './config.ts';
import { createCredential, describeSource, impersonate, type Credential } from './credentials/index.ts';
import type { Env } from './env.ts';
import { IamCredentials } from './google/iam-credentials.ts';
import { OAuthTokenEndpoint } from './google/oauth.ts';
import { Http } from './http/client.ts';
import type { MintedToken } from './tokens/check.ts';
import type { Logger } from './logger.ts';
import { mintToken } from './tokens/mint.ts';
import { probeIap } from './iap/probe.ts';
import { ActionError, ApiError } from './errors.ts';
import { displayUrl } from './urls.ts';

/**
 * config → credential → token, set up once: the action mints once, the CLI once, and a long-lived agent calls
 * `mint()` again before each token expires (the credential renews what it caches).
 */
export interface Minter {
  /** The credential, acting as `service_account` when one is set. */
  readonly credential: Credential;
  /** The one HTTP layer this pipeline's requests go through (the smoke tests use it too). */
  readonly http: Http;
  /** A fresh token of the kind configured (or that auto fell back to), checked and logged (never the token itself). */
  mint(): Promise<MintedToken>;
  /** token_type auto's last way, an access token, where auto chose an ID token and the caller can mint one. */
  readonly fallback: AccessTokenFallback | undefined;
}

export interface PipelineOptions {
  readonly env: Env;
  readonly report: Logger;
  /** For tests: the HTTP layer and the clock. */
  readonly http?: Http;
  /**
   * The caller's credential, already set up by another minter of the same source and service account: its cached
   * access token (a whole GitHub OIDC and STS exchange with Workload Identity Federation) is reused, not fetched again.
   */
  readonly credential?: Credential;
  readonly now?: () => number;
}

export function createMinter(
  config: Config,
  { env, report, http = new Http({ log: report.info }), now = Date.now, credential: given }: PipelineOptions,
): Minter {
  const iam = new IamCredentials(http, config.endpoints.iamcredentials, now);
  const credential = given ?? callerCredential(config, env, http, iam, now);
  const { serviceAccount } = config;
  report.info(`Credential: ${describeSource(config.source)}${serviceAccount ? `; minting for ${serviceAccount}` : ''}.`);
  if (config.choice) report.info(`Token: ${config.choice}`);
  // The audience found from the app's sign-in redirect is found once, then every mint uses it.
  let resolved: Promise<Config> | undefined;
  const ready = (): Promise<Config> =>
    (resolved ??= withFoundAudience(config, http, report).catch((error: unknown) => {
      resolved = undefined;
      throw error;
    }));
  const fallback = accessTokenFallback({ config, credential, iam, env, report, now });
  return {
    credential,
    http,
    fallback,
    mint: async () => {
      if (fallback?.chosen) return mintToken(fallback.chosen, credential, iam, report, now);
      const resolvedConfig = await ready();
      try {
        return await mintToken(resolvedConfig, credential, iam, report, now);
      } catch (error) {
        if (!config.audienceFrom) throw config.signedFromUrl ? signingRefused(error, config) : error;
        const refused = foundAudienceRefused(error, config);
        if (!fallback || refused === error) throw refused;
        // Google will not mint for the app's sign-in client: an access token needs no audience (IAP answers there).
        const why = `Google will not mint an ID token for the OAuth client IAP's sign-in redirect names (${resolvedConfig.audience}: most likely Google's managed client)`;
        return tryAccessToken(fallback, http, new URL(config.audienceFrom), refused, why);
      }
    },
  };
}

/**
 * auto chose a signed JWT, and the caller may not sign (a VM's account without the token creator role on itself): the
 * refusal's own fix stands, and an ID token for the app's OAuth client, which needs no signing, is the other way.
 */
function signingRefused(error: unknown, config: Config): unknown {
  if (!(error instanceof ApiError) || error.failure.status !== 403) return error;
  const other = `Or: ${config.nameOf('token_type')} auto chose a signed JWT because only the app's URL was given; give ${config.nameOf('audience')} the app's OAuth client ID to mint an ID token instead, which needs no signing permission (iap-token doctor URL names the client and checks both).`;
  return new ActionError(error.message, error.remedy ? `${error.remedy}\n${other}` : other);
}

/**
 * Google refuses to mint an ID token for the client the sign-in redirect named when that client is not the caller's
 * to mint for: Google's managed client lives in Google's own project. The way out is a signed JWT.
 */
function foundAudienceRefused(error: unknown, config: Config): unknown {
  if (!(error instanceof ApiError) || error.failure.code !== 'invalid_audience') return error;
  const app = new URL(config.audienceFrom ?? '');
  return new ActionError(
    error.message,
    `Fix: The audience was found from IAP's sign-in redirect at ${displayUrl(app)}, and Google will not mint your ID token for it: it is most likely Google's managed OAuth client, which no programmatic ID token can be for. Use a signed JWT instead: set ${config.nameOf('service_account')} to a service account you may impersonate (roles/iam.serviceAccountTokenCreator), which signs for ${app.origin}/*; or give ${config.nameOf('audience')} an OAuth client of your own that the app's programmaticClients lists.`,
  );
}

/** The configured source, acting as `service_account` (through `delegates`) when one is set. */
function callerCredential(config: Config, env: Env, http: Http, iam: IamCredentials, now: () => number): Credential {
  const oauth = new OAuthTokenEndpoint(http, now);
  const source = createCredential(config.source, { endpoints: config.endpoints, http, oauth, iam, env, now });
  const { serviceAccount, delegates } = config;
  if (!serviceAccount) return source;
  const origin = delegates.length
    ? `${config.nameOf('service_account')} and ${config.nameOf('delegates')}`
    : config.nameOf('service_account');
  return impersonate(source, { serviceAccount, delegates, origin }, iam, now);
}

/** An ID token with no audience given is for the OAuth client IAP's sign-in redirect names (one request, no token). */
async function withFoundAudience(config: Config, http: Http, report: Logger): Promise<Config> {
  if (!config.audienceFrom) return config;
  const shown = displayUrl(config.audienceFrom);
  const probe = await probeIap(http, config.audienceFrom);
  if (!probe.clientId) {
    const answered =
      probe.status === null
        ? `did not answer (${probe.failure ?? 'no answer'})`
        : `answered ${probe.status}${probe.from === 'iap' ? ' from IAP' : ''} without IAP's sign-in redirect to accounts.google.com`;
    throw new ActionError(
      `No audience was given, and none could be found: ${shown} ${answered}, so it names no OAuth client. Give ${config.nameOf('audience')} (the OAuth client ID IAP uses for the app), or check that ${shown} is the app behind IAP.`,
    );
  }
  report.info(
    `Audience: ${probe.clientId}, the OAuth client IAP's sign-in redirect at ${shown} names. If IAP refuses ID tokens for it, the app is on Google's managed client: a signed JWT (${config.nameOf('service_account')}) is then the way, or an allowlisted client of your own.`,
  );
  return { ...config, audience: probe.clientId, audienceFrom: undefined };
}
