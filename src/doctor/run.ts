import type { Config, DoctorConfig } from '../config.ts';
import type { Env } from '../env.ts';
import type { Http } from '../http/client.ts';
import { probeIap, type IapProbe } from '../iap/probe.ts';
import type { Credential } from '../credentials/index.ts';
import { createMinter } from '../pipeline.ts';
import { kindOf } from '../tokens/check.ts';
import { displayUrl } from '../urls.ts';
import { accessorProblem, bypassProblem, noIapProblem } from './fixes.ts';
import type { Check, DoctorReport, Problem, TokenTrial } from './report.ts';
import { describeResource, type IapResource } from './resource.ts';
import { NOT_SENT, readPolicy, readSettings } from './access.ts';
import { describeCaller, describeTrial, idTokenAudiences, minterFor, tryToken } from './trials.ts';
import { dedupe, judge, trialProblems } from './verdict.ts';
import { QUIET } from '../logger.ts';
import type { LogLine } from '../logger.ts';

export interface DoctorOptions {
  /** The caller's configuration (credential, impersonation), read by readConfig, with its doctor settings. */
  readonly config: Config;
  readonly doctor: DoctorConfig;
  readonly env: Env;
  readonly http: Http;
  /** The caller's credential when the front door already set it up (the action's minter): its tokens are reused. */
  readonly credential?: Credential;
  /** Progress, one line per step (the CLI's standard error, the action's log). */
  readonly progress: LogLine;
}

/**
 * Diagnoses an app's IAP set-up in three layers: what a stranger sees (no credential), what each token kind minted
 * with the caller's credential gets, and what IAP's settings and IAM policy say where the caller may read them. Ends
 * with one verdict (what to set) and each problem with its fix.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const { config, doctor, http, progress } = options;
  const url = new URL(doctor.url);
  const resource = describeResource(url, doctor.iapResource);
  const problems: Problem[] = [];

  progress(`Doctor: checking ${displayUrl(url)} without credentials.`);
  const probe = await probeIap(http, url.href);
  const outside = await strangerChecks(options, url, probe, resource, problems);

  progress('Doctor: reading IAP settings where permitted, then minting each token kind.');
  // One credential for every read and every kind minted: its access token (with WIF, a whole GitHub OIDC and STS
  // exchange) is fetched once. Its own access token reads IAP's settings.
  const caller = options.credential ?? createMinter(config, { env: options.env, report: QUIET, http }).credential;
  const signer = minterFor(options, caller, 'signed_jwt', `${url.origin}/*`);
  // Read only when there is something to read it for (the resource is named or known from the URL).
  const accessToken: unknown = resource.name ? await caller.accessToken().catch((error: unknown) => error) : undefined;
  const settings = await readSettings(options, resource, accessToken);

  // A token goes only where IAP answers: an ID token is good at every app on its client for an hour, and whoever
  // serves a URL without IAP could replay it there.
  const trials: TokenTrial[] = [];
  if (probe.from === 'iap') {
    const idAudiences = idTokenAudiences(config, probe, settings.value);
    for (const audience of idAudiences.slice(0, 2)) {
      const trial = await tryToken(options, url, 'id_token', audience, minterFor(options, caller, 'id_token', audience));
      trials.push(trial);
      if (trial.outcome === 'passed') break;
    }
    trials.push(await tryToken(options, url, 'signed_jwt', `${url.origin}/*`, signer));
    // The third kind, which apps take or not: no audience, so one trial tells.
    trials.push(await tryToken(options, url, 'access_token', '', minterFor(options, caller, 'access_token', '')));
  }
  const principal = trials.map((trial) => trial.sent?.email).find(Boolean) ?? caller.principal;
  const policy = await readPolicy(options, resource, accessToken, principal);

  const verdict = judge(trials, config, url);
  problems.push(...trialProblems(trials, probe, resource, verdict, principal));
  // The token this configuration mints (the step's, after the doctor) may be the one that fails while another works.
  const planned = trials.find((trial) => trial.kind === config.tokenType && trial.audience === config.audience);
  if (verdict.works && planned && planned.outcome !== 'passed') {
    problems.unshift({
      title: 'The token configured here does not get through IAP',
      why: `The ${kindOf(planned.kind)}${planned.audience ? ` for ${planned.audience}` : ''}: ${planned.why} Instead, ${verdict.text}`,
      gcloud: undefined,
      terraform: undefined,
    });
  }
  if (!verdict.works && policy.missing && principal && !problems.some((problem) => problem.title.startsWith('No access'))) {
    problems.push(accessorProblem(principal, resource, false));
  }
  return {
    url: displayUrl(url),
    resource: resource.description,
    layers: [
      { title: 'Without credentials: is IAP in front?', checks: outside },
      {
        title: `With the caller's credential: ${describeCaller(config)}`,
        checks: probe.from === 'iap' ? trials.map(describeTrial) : [{ status: 'skipped', text: NOT_SENT }],
      },
      { title: "IAP's settings and IAM policy (read where permitted)", checks: [...settings.checks, ...policy.checks] },
    ],
    trials,
    verdict,
    problems: dedupe(problems),
  };
}

async function strangerChecks(
  { doctor, http }: DoctorOptions,
  url: URL,
  probe: IapProbe,
  resource: IapResource,
  problems: Problem[],
): Promise<Check[]> {
  const shown = displayUrl(url);
  const checks: Check[] = [];
  if (probe.status === null) {
    checks.push({ status: 'problem', text: `${shown} did not answer: ${probe.failure ?? 'no answer'}.` });
    problems.push({
      title: 'The app did not answer',
      why: `${shown}: ${probe.failure ?? 'no answer'}. Check the URL, DNS and any proxy (https_proxy).`,
      gcloud: undefined,
      terraform: undefined,
    });
  } else if (probe.from === 'iap') {
    const how = probe.clientId ? `its sign-in redirect (${probe.status})` : `${probe.status}, marked X-Goog-IAP-Generated-Response`;
    checks.push({ status: 'ok', text: `IAP answers for ${shown}: ${how}.` });
  } else {
    checks.push({ status: 'problem', text: `${shown} answered ${probe.status} to a request without credentials, and not from IAP.` });
    problems.push(noIapProblem(shown, probe.status, resource));
  }
  if (probe.clientId) checks.push({ status: 'info', text: `IAP signs people in with the OAuth client ${probe.clientId}.` });
  checks.push({ status: 'info', text: `The app looks like ${resource.description}.` });
  for (const also of doctor.also) {
    const other = await probeIap(http, also);
    const shownOther = displayUrl(also);
    if (other.status === null)
      checks.push({ status: 'info', text: `${shownOther} did not answer (${other.failure ?? 'no answer'}): no way around IAP there.` });
    else if (other.from === 'iap') checks.push({ status: 'ok', text: `${shownOther} answers through IAP too (${other.status}).` });
    else if (other.status === 401 || other.status === 403 || other.status === 404) {
      checks.push({ status: 'ok', text: `${shownOther} refuses a stranger (${other.status}) without IAP: not a way around it.` });
    } else {
      checks.push({
        status: 'problem',
        text: `${shownOther} answered ${other.status} without credentials and without IAP: a way around IAP.`,
      });
      problems.push(bypassProblem(shownOther, other.status, resource));
    }
  }
  return checks;
}
