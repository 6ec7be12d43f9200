import type { Config } from '../config.ts';
import type { IapProbe } from '../iap/probe.ts';
import { kindOf } from '../tokens/check.ts';
import { accessorProblem, behindProblem, managedClientProblem, mintProblem } from './fixes.ts';
import type { Problem, TokenTrial, Verdict } from './report.ts';
import type { IapResource } from './resource.ts';

// The doctor's verdict from its trials (what to set), and the problems the trials show.

/** What to set: the kind that got through (a signed JWT first: it needs no OAuth client), or that none did. */
export function judge(trials: readonly TokenTrial[], config: Config, url: URL): Verdict {
  const passed = trials.filter((trial) => trial.outcome === 'passed');
  const best = passed.find((trial) => trial.kind === 'signed_jwt') ?? passed[0];
  const n = config.nameOf;
  if (!best) {
    // IAP's 403 means it accepted the token and refused its principal: that token is the one, once access is granted.
    const accepted = trials.find((trial) => trial.from === 'iap' && trial.status === 403);
    const then = accepted
      ? ` IAP accepts the ${kindOf(accepted.kind)} (${n('token_type')} ${accepted.kind}, ${n('audience')} ${accepted.audience}) and refuses its principal: grant access, and that is the token to use.`
      : '';
    // A 403 without IAP's mark: IAP let the token through, and what serves the app refused it.
    const behind = trials.find((trial) => trial.from === 'app' && trial.status === 403);
    if (behind) {
      return {
        works: false,
        tokenType: undefined,
        audience: undefined,
        text: `IAP lets the ${kindOf(behind.kind)} through (${n('token_type')} ${behind.kind}, ${n('audience')} ${behind.audience}), and the service behind IAP refuses it with 403. Fix that (below), and that is the token to use.`,
      };
    }
    return {
      works: false,
      tokenType: undefined,
      audience: undefined,
      text: `no token got through IAP.${then} Fix the problems below, in order, and run the doctor again.`,
    };
  }
  const set =
    best.kind === 'signed_jwt'
      ? `${n('token_type')} signed_jwt and ${n('audience')} ${best.audience} (or leave both out with ${n('app_url')} ${url.origin}: auto picks the same)`
      : `${n('audience')} ${best.audience} (${n('token_type')} auto then mints an ID token)`;
  return {
    works: true,
    tokenType: best.kind,
    audience: best.audience,
    text: `a ${best.kind === 'signed_jwt' ? '' : 'Google-signed '}${kindOf(best.kind)} gets through IAP. Set ${set}.`,
  };
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
    if (trial.outcome === 'passed') continue;
    if (trial.status === 403 && trial.from === 'app') problems.push(behindProblem(resource));
    if (verdict.works) continue;
    if (trial.status === 403 && trial.from === 'iap' && principal) problems.push(accessorProblem(principal, resource, true));
    else if (trial.outcome === 'not-minted') problems.push(mintProblem(trial));
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
