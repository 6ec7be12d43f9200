import type { Config } from './config.ts';
import { createCredential, describeSource, impersonate, type Credential } from './credentials/index.ts';
import type { Env } from './endpoints.ts';
import { IamCredentials } from './google/iam-credentials.ts';
import { OAuthTokenEndpoint } from './google/oauth.ts';
import { Http } from './http/client.ts';
import type { MintedToken } from './tokens/check.ts';
import { mintToken, type Reporter } from './tokens/mint.ts';

/**
 * config → credential → token, set up once: the action mints once, the CLI once, and a long-lived agent calls
 * `mint()` again before each token expires (the credential renews what it caches).
 */
export interface Minter {
  /** The credential, acting as `service_account` when one is set. */
  readonly credential: Credential;
  /** The one HTTP layer this pipeline's requests go through (the smoke tests use it too). */
  readonly http: Http;
  /** A fresh token of the kind configured, checked and logged (never the token itself). */
  mint(): Promise<MintedToken>;
}

export interface PipelineOptions {
  readonly env: Env;
  readonly report: Reporter;
  /** For tests: the HTTP layer and the clock. */
  readonly http?: Http;
  readonly now?: () => number;
}

export function createMinter(
  config: Config,
  { env, report, http = new Http({ log: report.info }), now = Date.now }: PipelineOptions,
): Minter {
  const oauth = new OAuthTokenEndpoint(http, now);
  const iam = new IamCredentials(http, config.endpoints.iamcredentials, now);
  const source = createCredential(config.source, { endpoints: config.endpoints, http, oauth, iam, env, now });
  const { serviceAccount, delegates } = config;
  const origin = delegates.length
    ? `${config.nameOf('service_account')} and ${config.nameOf('delegates')}`
    : config.nameOf('service_account');
  const credential = serviceAccount ? impersonate(source, { serviceAccount, delegates, origin }, iam, now) : source;
  report.info(`Credential: ${describeSource(config.source)}${serviceAccount ? `; minting for ${serviceAccount}` : ''}.`);
  return { credential, http, mint: () => mintToken(config, credential, iam, report, now) };
}
