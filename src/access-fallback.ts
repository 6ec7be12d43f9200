import type { Config } from './config.ts';
import type { Credential } from './credentials/index.ts';
import { cannotMintAccessToken } from './credentials/iap-access.ts';
import type { Env } from './env.ts';
import { ActionError, ApiError, explain } from './errors.ts';
import type { IamCredentials } from './google/iam-credentials.ts';
import type { Http } from './http/client.ts';
import { explainRefusal, NO_ACCESS_TOKENS } from './iap/refusals.ts';
import { sendThroughIap, type IapTrial } from './iap/trial.ts';
import type { Logger } from './logger.ts';
import type { MintedToken } from './tokens/check.ts';
import { mintToken } from './tokens/mint.ts';
import { displayUrl } from './urls.ts';

/**
 * token_type auto's last way: where neither a signed JWT nor an ID token can get through (a user's refresh token for
 * an app on Google's managed client; an ID token IAP refuses for its audience), an OAuth access token with the openid
 * and email scopes, which needs no audience. Apps take access tokens or not, so it is tried once where IAP answers
 * (a request to the app, or the smoke tests again) before it is chosen; once chosen, every later mint is one.
 */
export interface AccessTokenFallback {
  /** An access token, checked and logged, not yet chosen. */
  mint(): Promise<MintedToken>;
  /** IAP took it: the log says why, and the minter mints access tokens from now on. */
  choose(why: string): void;
  /** The configuration every mint uses once chosen; undefined until then. */
  readonly chosen: Config | undefined;
}

interface FallbackParts {
  readonly config: Config;
  readonly credential: Credential;
  readonly iam: IamCredentials;
  readonly env: Env;
  readonly report: Logger;
  readonly now: () => number;
}

/** The fallback, where auto chose an ID token and the caller can mint an access token for IAP; else undefined. */
export function accessTokenFallback({ config, credential, iam, env, report, now }: FallbackParts): AccessTokenFallback | undefined {
  if (!config.auto || config.tokenType !== 'id_token' || !credential.iapAccessToken) return undefined;
  if (cannotMintAccessToken(config.source, config.serviceAccount, env)) return undefined;
  const variant: Config = { ...config, tokenType: 'access_token', audience: '', audienceFrom: undefined, auto: false };
  let chosen: Config | undefined;
  return {
    mint: () => mintToken(variant, credential, iam, report, now),
    choose: (why) => {
      chosen = variant;
      report.info(`Token: ${config.nameOf('token_type')} auto: access_token, because ${why}`);
    },
    get chosen() {
      return chosen;
    },
  };
}

/**
 * The ID token auto chose could not be had (`original`, and `why` in a clause): an access token, sent once to `url`
 * (where IAP was seen to answer), is chosen when IAP takes it; else `original` stands, with what the access token met.
 */
export async function tryAccessToken(
  fallback: AccessTokenFallback,
  http: Http,
  url: URL,
  original: unknown,
  why: string,
): Promise<MintedToken> {
  let minted: MintedToken;
  try {
    minted = await fallback.mint();
  } catch (error) {
    throw withNote(original, `An access token, token_type auto's last way, could not be minted either: ${explain(error)}`);
  }
  const trial = await sendThroughIap(http, url, minted.token, 'Access token trial');
  if (!trial.accepted) throw withNote(original, `An access token was tried once too, at ${displayUrl(url)}: ${trialWords(trial, minted)}`);
  fallback.choose(`${why}; IAP at ${displayUrl(url)} took an access token (it answered ${trial.status ?? ''}).`);
  return minted;
}

/** What IAP said to an access token, in a sentence. */
function trialWords(trial: IapTrial, minted: MintedToken): string {
  if (trial.status === null) return `no answer (${trial.failure ?? 'unknown error'}).`;
  if (trial.refusal === 'parse') return NO_ACCESS_TOKENS;
  if (!trial.refusal) return `the app answered ${trial.status}.`;
  return `IAP answered ${trial.status}: ${explainRefusal(trial.refusal, 'trial', { header: 'authorization', principal: minted.principal, kind: 'access_token' })}`;
}

/** The original error, with a line more under its remedy. */
export function withNote(original: unknown, note: string): unknown {
  if (!(original instanceof ActionError) && !(original instanceof ApiError)) return original;
  const { remedy } = original;
  return new ActionError(original.message, remedy ? `${remedy}\n${note}` : note);
}
