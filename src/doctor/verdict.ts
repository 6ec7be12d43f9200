import type { Config, TokenType } from '../config.ts';
import type { IapProbe } from '../iap/probe.ts';
import { kindOf } from '../tokens/check.ts';
import { accessorProblem, behindProblem, managedClientProblem, mintProblem } from './fixes.ts';
import type { Problem, TokenTrial, Verdict } from './report.ts';
import type { IapResource } from './resource.ts';
import { notTaken } from './trials.ts';
import { cannotSign } from '../credentials/signing.ts';
import { tookToken } from '../iap/trial.ts';

// The doctor's verdict from its trials (what to set), and the problems the trials show.

/** The order a verdict prefers what got through: a signed JWT needs no OAuth client; an ID token is the long-known way. */
const PREFERENCE: readonly TokenType[] = ['signed_jwt', 'id_token', 'access_token'];

/**
 * What to set: the kind that got through (in PREFERENCE's order), or that none did; and which kinds IAP took for this
 * app, since apps take access tokens or not.
 */
export function judge(trials: readonly TokenTrial[], config: Config, url: URL): Verdict {
  const verdict = choose(trials, config, url);
  return { ...verdict, text: `${verdict.text}${takenKinds(trials)}` };
}

/** " IAP took: a signed JWT and an ID token; this app does not take access tokens." — what the trials showed. */
function takenKinds(trials: readonly TokenTrial[]): string {
  const taken = PREFERENCE.filter((kind) => trials.some((trial) => trial.kind === kind && tookToken(trial.from, trial.refusal)));
  const refusedAccess = trials.some(notTaken);
  if (taken.length === 0 && !refusedAccess) return '';
  const names = taken.map((kind) => kindOf(kind, 'a'));
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}` : (names[0] ?? 'none of the kinds tried');
  return ` IAP took: ${list}${refusedAccess ? '; this app does not take access tokens' : ''}.`;
}

/** "token_type id_token, audience X", or for an access token, which has none, its kind alone. */
function settingOf(trial: TokenTrial, n: Config['nameOf']): string {
  return trial.audience ? `${n('token_type')} ${trial.kind}, ${n('audience')} ${trial.audience}` : `${n('token_type')} ${trial.kind}`;
}

function choose(trials: readonly TokenTrial[], config: Config, url: URL): Verdict {
  const passed = trials.filter((trial) => trial.outcome === 'passed');
  const best = PREFERENCE.map((kind) => passed.find((trial) => trial.kind === kind)).find(Boolean);
  const n = config.nameOf;
  if (!best) {
    // IAP's 403 means it accepted the token and refused its principal: that token is the one, once access is granted.
    const accepted = trials.find((trial) => trial.from === 'iap' && trial.status === 403);
    const then = accepted
      ? ` IAP accepts the ${kindOf(accepted.kind)} (${settingOf(accepted, n)}) and refuses its principal: grant access, and that is the token to use.`
      : '';
    // A 403 without IAP's mark: IAP let the token through, and what serves the app refused it.
    const behind = trials.find((trial) => trial.from === 'app' && trial.status === 403);
    if (behind) {
      return {
        works: false,
        tokenType: undefined,
        audience: undefined,
        text: `IAP lets the ${kindOf(behind.kind)} through (${settingOf(behind, n)}), and the service behind IAP refuses it with 403. Fix that (below), and that is the token to use.`,
      };
    }
    return {
      works: false,
      tokenType: undefined,
      audience: undefined,
      text: `no token got through IAP.${then} Fix the problems below, in order, and run the doctor again.`,
    };
  }
  const set = {
    signed_jwt: `${n('token_type')} signed_jwt and ${n('audience')} ${best.audience} (or leave both out with ${n('app_url')} ${url.origin}: auto picks the same)`,
    id_token: `${n('audience')} ${best.audience} (${n('token_type')} auto then mints an ID token)`,
    // auto falls back to an access token only where it chose an ID token: for a caller that cannot sign.
    access_token: cannotSign(config.source, config.serviceAccount)
      ? `${n('token_type')} access_token (no audience; or leave it auto with ${n('app_url')} ${url.origin}, which falls back to one)`
      : `${n('token_type')} access_token (no audience)`,
  }[best.kind];
  const what = best.kind === 'id_token' ? 'a Google-signed ID token' : kindOf(best.kind, 'a');
  return { works: true, tokenType: best.kind, audience: best.audience, text: `${what} gets through IAP. Set ${set}.` };
}

/** The problems the trials show. Once some kind works, another kind's refusal is a note in its layer, not a problem. */
export function trialProblems(
  trials: readonly TokenTrial[],
  probe: IapProbe,
  resource: IapResource,
  verdict: Verdict,
  principal: string | undefined,
): Problem[] {
  const problems: Problem[] = [];
  // Once IAP accepts some token (and refuses only its principal), another kind's audience trouble is beside the point.
  const accepted = trials.some((trial) => trial.from === 'iap' && trial.status === 403);
  for (const trial of trials) {
    if (trial.outcome === 'passed' || notTaken(trial)) continue;
    if (trial.status === 403 && trial.from === 'app') problems.push(behindProblem(resource));
    if (verdict.works) continue;
    if (trial.status === 403 && trial.from === 'iap' && principal) problems.push(accessorProblem(principal, resource, true));
    // The access token is the third way, for apps that take it: why it could not be minted is told in its layer.
    else if (trial.outcome === 'not-minted' && trial.kind !== 'access_token') problems.push(mintProblem(trial));
    else if (trial.outcome === 'not-minted') continue;
    else if (trial.kind === 'id_token' && trial.from === 'iap' && trial.status === 401 && /audience/i.test(trial.why)) {
      if (!accepted) problems.push(managedClientProblem(trial.audience, trial.audience === probe.clientId, resource));
    } else if (trial.from === 'iap' || trial.status === null) {
      problems.push({
        title: `The ${kindOf(trial.kind)} was refused`,
        why: trial.why,
        gcloud: undefined,
        terraform: undefined,
      });
    }
  }
  return problems;
}

export function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => !seen.has(problem.title) && Boolean(seen.add(problem.title)));
}
