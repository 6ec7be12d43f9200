import { ActionError, ApiError } from '../errors.ts';
import { redact } from '../secrets.ts';
import type { Http, HttpResponse, RetryPolicy } from '../http/client.ts';
import { answeredBy, answererName, iapRefusal, turnedAwayByIap, type AnsweredBy, type IapRefusal } from '../iap/answers.ts';
import { probeIap, type IapProbe } from '../iap/probe.ts';
import { kindOf, type MintedToken } from '../tokens/check.ts';
import { canRetrySafely, isUnsafe, statusIn } from './classify.ts';
import type { SmokeConfig, SmokeTarget } from '../config.ts';
import { displayUrl } from '../urls.ts';
import { diagnose } from './diagnose.ts';
import type { LogLine } from '../logger.ts';

/** One target's outcome: what `smoke_test_results` lists and the summary shows. */
export interface SmokeResult {
  readonly method: string;
  readonly url: string;
  /** The final status, or null when no answer came. */
  readonly status: number | null;
  readonly ok: boolean;
  readonly attempts: number;
  readonly ms: number;
  /** Who gave the final answer: IAP itself (X-Goog-IAP-Generated-Response), the app behind it, or nobody. */
  readonly from: AnsweredBy;
  /** A `DENY URL` line: sent without a token, it passes when IAP refuses it. */
  readonly deny?: boolean;
  /** What went wrong and what to do, when not ok. */
  readonly diagnosis?: string;
  /** Why IAP refused the token, when IAP itself answered a failed target (not in smoke_test_results). */
  readonly refusal?: IapRefusal;
}

const SMOKE_POLICY = { baseDelayMs: 2_000, maxDelayMs: 15_000, attempts: 1_000 };

/** Calls every target side by side with the token; each retries what can heal until smoke_test_retry_for runs out. */
export async function runSmokeTests(
  config: SmokeConfig,
  minted: MintedToken,
  http: Http,
  log: LogLine,
  now: () => number = Date.now,
): Promise<SmokeResult[]> {
  return Promise.all(
    config.targets.map(async (target) => {
      if (target.deny) return checkDenied(target, config, http, log, now);
      // An ID token is good at every IAP app on its OAuth client for an hour, an access token at every app that takes
      // them (and at Google's userinfo): either goes only where IAP answers.
      if (minted.kind !== 'signed_jwt') {
        const refusal = await iapGate(target, config, http, minted, now);
        if (refusal) {
          log(`✗ ${target.method} ${displayUrl(target.url)}: the ${kindOf(minted.kind)} was not sent (${refusal.why})`);
          return refusal.result;
        }
      }
      return runOne(target, config, minted, http, log, now);
    }),
  );
}

/**
 * Does IAP answer for this URL? A request without a token (no redirect followed): IAP answers it itself (its 302 to
 * Google's sign-in, 401 or 403), marked by X-Goog-IAP-Generated-Response. Otherwise the token is not sent,
 * and the target fails saying so. A signed JWT needs no such check: its audience is the URL itself.
 */
async function iapGate(
  target: SmokeTarget,
  config: SmokeConfig,
  http: Http,
  { kind }: MintedToken,
  now: () => number,
): Promise<{ result: SmokeResult; why: string } | undefined> {
  const started = now();
  const shown = displayUrl(target.url);
  const probe = await probeIap(http, target.url, { headers: config.headers, retry: probePolicy(config) });
  if (probe.from === 'iap') return undefined;
  const why =
    probe.status !== null
      ? `${shown} answered ${probe.status} without IAP's mark (X-Goog-IAP-Generated-Response)`
      : `${shown} did not answer`;
  const reach =
    kind === 'access_token'
      ? 'An access token is accepted by every IAP app that takes them (and by Google for your email) for an hour'
      : 'An ID token is accepted by every IAP app on its OAuth client for an hour';
  const diagnosis = `IAP does not answer for this URL, so the ${kindOf(kind)} was not sent: ${why}. ${reach}, so it goes only to URLs behind IAP; check the URL (a typo, a staging host, an app without IAP).`;
  return { why, result: probeResult(target, probe, false, Math.round(now() - started), diagnosis) };
}

/** Retries for a request without a token: IAP's own answers are final, 5xx and dropped connections heal. */
function probePolicy(config: SmokeConfig): Partial<RetryPolicy> {
  return { ...SMOKE_POLICY, timeoutMs: config.timeoutMs, budgetMs: config.retryForMs };
}

function probeResult(target: SmokeTarget, probe: IapProbe, ok: boolean, ms: number, diagnosis?: string): SmokeResult {
  return {
    method: target.method,
    url: displayUrl(target.url),
    ...(target.deny ? { deny: true } : {}),
    status: probe.status,
    ok,
    attempts: probe.attempts,
    ms,
    from: probe.from,
    ...(diagnosis ? { diagnosis } : {}),
  };
}

/**
 * A `DENY URL` line: the URL is called as a stranger would (no token, none of smoke_test_headers), and passes only
 * when IAP itself turns the stranger away, so a deploy that exposes the app (IAP switched off, a bypassing route)
 * fails the job.
 */
async function checkDenied(target: SmokeTarget, config: SmokeConfig, http: Http, log: LogLine, now: () => number): Promise<SmokeResult> {
  const started = now();
  const shown = displayUrl(target.url);
  const probe = await probeIap(http, target.url, { retry: probePolicy(config) });
  const ms = Math.round(now() - started);
  const ok = turnedAwayByIap(probe.status, probe.from);
  const answer = probe.status === null ? 'no answer' : `${probe.status} from ${answererName(probe.from)}`;
  log(`${ok ? '✓' : '✗'} DENY ${shown}: ${answer} without a token`);
  if (ok) return probeResult(target, probe, true, ms);
  const diagnosis =
    probe.status === null
      ? `No answer within the retry window (${config.retryForMs / 1000} s): ${probe.failure ?? 'unknown error'}; whether IAP refuses strangers is unknown.`
      : probe.from === 'iap'
        ? `IAP answered ${probe.status} to a request without a token; expected its sign-in redirect, 401 or 403.`
        : `IAP is not enforced here: the URL answered ${probe.status} to a request without any token, and not from IAP (no X-Goog-IAP-Generated-Response). Check that IAP is on for this app and that no route reaches it around IAP (a run.app URL with ingress all and allUsers invoker, a second load balancer). iap-token doctor URL --also URL checks both.`;
  return probeResult(target, probe, false, ms, diagnosis);
}

async function runOne(
  target: SmokeTarget,
  config: SmokeConfig,
  minted: MintedToken,
  http: Http,
  log: LogLine,
  now: () => number,
): Promise<SmokeResult> {
  const started = now();
  const shown = displayUrl(target.url);
  const what = `${target.method} ${shown}`;
  const retry = canRetrySafely(target.method, config);
  let response: HttpResponse | undefined;
  let attempts: number;
  let failure: string | undefined;
  try {
    const sent = await http.send({
      what,
      method: target.method,
      url: target.url,
      headers: { ...config.headers, [config.header]: `Bearer ${minted.token}` },
      retry: {
        ...SMOKE_POLICY,
        timeoutMs: config.timeoutMs,
        budgetMs: config.retryForMs,
        retryable: retry.answer,
        retryableFailure: retry.failure,
        describe: (answer) => `${answererName(answeredBy(answer.headers))} answered ${answer.status}`,
      },
    });
    response = sent.response;
    attempts = sent.attempts;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    attempts = error.attempts;
    failure = error.failure.message;
  }
  const ms = Math.round(now() - started);
  const status = response?.status ?? null;
  const ok = response !== undefined && statusIn(config.expected, response.status);
  const from = answeredBy(response?.headers);
  const result: SmokeResult = { method: target.method, url: shown, status, ok, attempts, ms, from };
  const timing = `${attempts} attempt${attempts === 1 ? '' : 's'}, ${(ms / 1000).toFixed(1)} s`;
  if (ok) {
    log(`✓ ${what}: ${status} from the ${from === 'iap' ? 'IAP' : 'app'} (${timing})`);
    return result;
  }
  const diagnosis = await diagnose({ target, response, failure, minted, config, http });
  log(`✗ ${what}: ${status === null ? 'no answer' : `${status} from ${answererName(from)}`} (${timing})`);
  const refusal = response && from === 'iap' ? iapRefusal(response.status, response.body) : undefined;
  return { ...result, diagnosis: redact(diagnosis), ...(refusal ? { refusal } : {}) };
}

/** The step's error when any target failed: each failed target with its diagnosis. */
export function smokeFailure(results: readonly SmokeResult[]): ActionError | undefined {
  const failed = results.filter((result) => !result.ok);
  if (failed.length === 0) return undefined;
  const lines = failed.map((result) => `${result.deny ? 'DENY' : result.method} ${result.url}: ${result.diagnosis ?? 'failed'}`);
  return new ActionError(`Smoke test failed for ${failed.length} of ${results.length} URL(s); no outputs were set.\n${lines.join('\n')}`);
}

/**
 * Every failed target was refused by IAP for the token's audience (what an access token, which has none, may pass),
 * and the smoke tests may run again: no POST, PUT, PATCH or DELETE got through to the app, which a second run would
 * repeat.
 */
export function refusedForAudience(results: readonly SmokeResult[]): boolean {
  const again = (result: SmokeResult) =>
    result.ok ? result.deny === true || !isUnsafe(result.method) : !result.deny && result.refusal === 'audience';
  return results.some((result) => !result.ok) && results.every(again);
}
