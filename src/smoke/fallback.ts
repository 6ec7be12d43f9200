import { withNote, type AccessTokenFallback } from '../access-fallback.ts';
import { explain } from '../errors.ts';
import type { Http } from '../http/client.ts';
import { NO_ACCESS_TOKENS } from '../iap/refusals.ts';
import type { LogLine } from '../logger.ts';
import type { MintedToken } from '../tokens/check.ts';
import type { SmokeConfig } from '../config.ts';
import { runSmokeTests, smokeFailure, type SmokeResult } from './run.ts';

export type FallbackOutcome =
  | { readonly passed: true; readonly minted: MintedToken; readonly results: SmokeResult[] }
  | { readonly passed: false; readonly failure: unknown };

/**
 * IAP refused the ID token token_type auto chose for its audience at every failed URL: the smoke tests run once more
 * with an access token (no audience). It is chosen only when every URL passes; else the first failure stands, with
 * what the access token met.
 */
export async function trySmokeWithAccessToken(
  smoke: SmokeConfig,
  fallback: AccessTokenFallback,
  http: Http,
  failure: Error,
  log: LogLine,
): Promise<FallbackOutcome> {
  log("IAP refused the ID token for its audience; smoke testing an access token once instead (token_type auto's last way).");
  let minted: MintedToken;
  try {
    minted = await fallback.mint();
  } catch (error) {
    return { passed: false, failure: withNote(failure, `An access token could not be minted either: ${explain(error)}`) };
  }
  const results = await runSmokeTests(smoke, minted, http, log);
  if (!smokeFailure(results)) {
    fallback.choose('IAP refused the ID token for its audience, and every smoke-tested URL passed with an access token.');
    return { passed: true, minted, results };
  }
  const met = results
    .filter((result) => !result.ok)
    .map((result) => `${result.method} ${result.url}: ${result.refusal === 'parse' ? NO_ACCESS_TOKENS : (result.diagnosis ?? 'failed')}`);
  return { passed: false, failure: withNote(failure, `An access token was smoke-tested once too, and failed:\n${met.join('\n')}`) };
}
