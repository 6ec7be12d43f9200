import type { Config, DoctorConfig, TokenType } from '../config.ts';
import type { Env } from '../endpoints.ts';
import { ApiError, explain } from '../errors.ts';
import { IapAdmin, type IamBinding, type IapSettings } from '../google/iap-admin.ts';
import type { Http } from '../http/client.ts';
import { explainRefusal, iapRefusal, answeredByIap, type IapRefusal } from '../iap/answers.ts';
import { probeIap, type IapProbe } from '../iap/probe.ts';
import { decodeJwt } from '../jwt.ts';
import { printable } from '../printable.ts';
import type { Credential } from '../credentials/index.ts';
import { cannotSign } from '../credentials/signing.ts';
import { createMinter, type Minter } from '../pipeline.ts';
import { rfc3339, type MintedToken } from '../tokens/check.ts';
import { displayUrl } from '../urls.ts';
import { accessorProblem, behindProblem, bypassProblem, managedClientProblem, mintProblem, noIapProblem } from './fixes.ts';
import type { Check, DoctorReport, Problem, TokenTrial, Verdict } from './report.ts';
import { describeResource, type IapResource } from './resource.ts';

export interface DoctorOptions {
  /** The caller's configuration (credential, impersonation), read by readConfig, with its doctor settings. */
  readonly config: Config;
  readonly doctor: DoctorConfig;
  readonly env: Env;
  readonly http: Http;
  /** The caller's credential when the front door already set it up (the action's minter): its tokens are reused. */
  readonly credential?: Credential;
  /** Progress, one line per step (the CLI's standard error, the action's log). */
  readonly progress: (line: string) => void;
}

const ACCESSOR = 'roles/iap.httpsResourceAccessor';
/** The doctor reports its own progress; the minters it sets up stay quiet. */
const QUIET = { info: () => undefined, warning: () => undefined };
/** A token trial is one request (two on a 5xx): the doctor diagnoses; it does not wait for grants to propagate. */
const TRIAL_RETRY = { attempts: 2, timeoutMs: 15_000, budgetMs: 20_000 };

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
      why: `${planned.kind === 'id_token' ? 'The ID token' : 'The signed JWT'} for ${planned.audience}: ${planned.why} Instead, ${verdict.text}`,
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

interface Candidate {
  readonly minter: Minter | undefined;
  /** Why no minter could be set up for this kind (the caller cannot sign, …). */
  readonly refused: string | undefined;
}

/** A minter for one token kind with the caller's credential; quiet, for its progress is the doctor's. */
function minterFor({ config, env, http }: DoctorOptions, credential: Credential, kind: TokenType, audience: string): Candidate {
  const unsigned = kind === 'signed_jwt' ? cannotSign(config.source, config.serviceAccount) : undefined;
  if (unsigned === 'user') {
    return {
      minter: undefined,
      refused: `a user's refresh token cannot sign a JWT (only a service account can): set ${config.nameOf('service_account')} to one you may impersonate.`,
    };
  }
  if (unsigned === 'no-key-id') {
    return { minter: undefined, refused: `the key file has no private_key_id, which IAP needs to find the signing key.` };
  }
  const variant: Config = {
    ...config,
    tokenType: kind,
    audience,
    audienceFrom: undefined,
    choice: undefined,
    includeEmail: true,
    lifetimeSeconds: kind === 'signed_jwt' ? config.lifetimeSeconds : 3600,
  };
  return { minter: createMinter(variant, { env, report: QUIET, http, credential }), refused: undefined };
}

/** The ID token audiences worth a try: the one given, else the sign-in client, then an allowlisted client. */
function idTokenAudiences(config: Config, probe: IapProbe, settings: IapSettings | undefined): string[] {
  const given = config.tokenType === 'id_token' && config.audience ? [config.audience] : [];
  const candidates = [
    ...given,
    ...(probe.clientId ? [probe.clientId] : []),
    ...(settings?.clientId ? [settings.clientId] : []),
    ...(settings?.programmaticClients ?? []),
  ];
  return [...new Set(candidates)];
}

async function tryToken(options: DoctorOptions, url: URL, kind: TokenType, audience: string, candidate: Candidate): Promise<TokenTrial> {
  const base = { kind, audience, sent: undefined, status: null, from: null } as const;
  if (!candidate.minter) return { ...base, outcome: 'not-minted', why: candidate.refused ?? 'no credential' };
  let minted: MintedToken;
  try {
    minted = await candidate.minter.mint();
  } catch (error) {
    return { ...base, outcome: 'not-minted', why: explain(error) };
  }
  const claims = decodeJwt(minted.token)?.claims ?? {};
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const sent = {
    aud: text(claims['aud']) ?? minted.audience,
    email: text(claims['email']) ?? text(claims['iss']) ?? minted.principal,
    exp: rfc3339(minted.expiresAt),
  };
  try {
    const { response } = await options.http.send({
      what: `${kind === 'id_token' ? 'ID token' : 'Signed JWT'} trial at ${displayUrl(url)}`,
      method: 'GET',
      url: url.href,
      headers: { authorization: `Bearer ${minted.token}` },
      retry: TRIAL_RETRY,
    });
    const fromIap = answeredByIap(response.headers);
    const from = fromIap ? 'iap' : 'app';
    if (fromIap) {
      const refusal = iapRefusal(response.status, response.body);
      return {
        ...base,
        sent,
        status: response.status,
        from,
        outcome: 'refused',
        why: refusalWhy(refusal, response.body, minted.principal),
      };
    }
    if (response.status === 403) {
      return {
        ...base,
        sent,
        status: 403,
        from,
        outcome: 'refused',
        why: 'IAP let it through, and the service behind IAP refused it (403).',
      };
    }
    return {
      ...base,
      sent,
      status: response.status,
      from,
      outcome: 'passed',
      why: `IAP let it through; the app answered ${response.status}.`,
    };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { ...base, sent, outcome: 'refused', why: `no answer: ${error.failure.message}` };
  }
}

function refusalWhy(refusal: IapRefusal, body: string, principal: string): string {
  const said = printable(body.slice(0, 120)).replace(/\s+/g, ' ').trim();
  const quoted = refusal === 'forbidden' ? 'IAP refused it (403)' : `IAP refused it: "${said}"`;
  return `${quoted}. ${DOCTOR_REFUSALS[refusal] ?? explainRefusal(refusal, 'authorization', principal)}`;
}

/** Where the proxy's words (it mints again by itself) do not fit a one-off trial. */
const DOCTOR_REFUSALS: Partial<Record<IapRefusal, string>> = {
  expired: "IAP found the token expired or not yet valid, though it was just minted: check this machine's clock.",
  signature: "IAP could not verify the token's signature: for a signed JWT, the signing key may have been deleted.",
  email: 'IAP refused an ID token without an email claim.',
};

function describeTrial(trial: TokenTrial): Check {
  const what = `${trial.kind === 'id_token' ? 'ID token' : 'Signed JWT'} for ${trial.audience}`;
  const sent = trial.sent ? ` Sent: aud ${trial.sent.aud}, email ${trial.sent.email}, exp ${trial.sent.exp}.` : '';
  if (trial.outcome === 'not-minted') return { status: 'skipped', text: `${what}: not minted: ${trial.why}` };
  return { status: trial.outcome === 'passed' ? 'ok' : 'problem', text: `${what}: ${trial.why}${sent}` };
}

function describeCaller(config: Config): string {
  return config.serviceAccount ? `${config.source.origin}, as ${config.serviceAccount}` : config.source.origin;
}

async function readSettings(
  { config, http }: DoctorOptions,
  resource: IapResource,
  accessToken: unknown,
): Promise<{ value: IapSettings | undefined; checks: Check[] }> {
  const skipped = unreadable(resource, accessToken, 'iap.webServices.getSettings', config);
  if (skipped || !resource.name || typeof accessToken !== 'string') return { value: undefined, checks: [skipped ?? notRead] };
  try {
    const value = await new IapAdmin(http, config.endpoints.iap).settings(accessToken, resource.name);
    const client = value.clientId
      ? `IAP uses a custom OAuth client, ${value.clientId}: ID tokens for it are accepted.`
      : "IAP uses Google's managed OAuth client: it accepts no programmatic ID token for it, only for clients on programmaticClients (or a signed JWT).";
    const allowed = value.programmaticClients.length
      ? `programmaticClients: ${value.programmaticClients.join(', ')}.`
      : 'programmaticClients: none.';
    return {
      value,
      checks: [
        { status: 'info', text: client },
        { status: 'info', text: allowed },
      ],
    };
  } catch (error) {
    return { value: undefined, checks: [apiSkip('Settings', error, 'iap.webServices.getSettings', resource.name)] };
  }
}

async function readPolicy(
  { config, http }: DoctorOptions,
  resource: IapResource,
  accessToken: unknown,
  principal: string | undefined,
): Promise<{ missing: boolean; checks: Check[] }> {
  const skipped = unreadable(resource, accessToken, 'iap.webServices.getIamPolicy', config);
  if (skipped || !resource.name || typeof accessToken !== 'string') return { missing: false, checks: skipped ? [skipped] : [] };
  let bindings: IamBinding[];
  try {
    bindings = await new IapAdmin(http, config.endpoints.iap).iamPolicy(accessToken, resource.name);
  } catch (error) {
    return { missing: false, checks: [apiSkip('IAM policy', error, 'iap.webServices.getIamPolicy', resource.name)] };
  }
  return policyFor(bindings, principal);
}

/** What the IAP policy says of the principal: holds the accessor role by name, under a condition, maybe through a group, or not. */
export function policyFor(bindings: readonly IamBinding[], principal: string | undefined): { missing: boolean; checks: Check[] } {
  const accessors = bindings.filter((binding) => binding.role === ACCESSOR);
  const members = accessors.flatMap((binding) => binding.members);
  const listed = `${ACCESSOR} holders: ${members.length ? members.join(', ') : 'none'}.`;
  // A binding with a condition (an access level, a time window) grants only when it holds, which the doctor cannot see.
  const conditional = new Set(accessors.filter((binding) => binding.conditional).flatMap((binding) => binding.members));
  if (!principal) return { missing: false, checks: [{ status: 'info', text: listed }] };
  const member = principal.endsWith('.gserviceaccount.com') ? `serviceAccount:${principal}` : `user:${principal}`;
  if (conditional.has(member) && !accessors.some((binding) => !binding.conditional && binding.members.includes(member))) {
    return {
      missing: false,
      checks: [{ status: 'info', text: `${member} holds ${ACCESSOR} under a condition, which IAP checks on each request. ${listed}` }],
    };
  }
  if (members.includes(member)) return { missing: false, checks: [{ status: 'ok', text: `${member} holds ${ACCESSOR}. ${listed}` }] };
  const indirect = members.filter((name) => /^(group|domain|principalSet|principal|allAuthenticatedUsers|allUsers)\b/.test(name));
  if (indirect.length) {
    return {
      missing: false,
      checks: [
        { status: 'info', text: `${member} is not granted ${ACCESSOR} by name; it may hold it through ${indirect.join(', ')}. ${listed}` },
      ],
    };
  }
  return { missing: true, checks: [{ status: 'problem', text: `${member} does not hold ${ACCESSOR} on this resource. ${listed}` }] };
}

const NOT_SENT =
  'No token was minted or sent: IAP does not answer for this URL, and a token goes only where IAP does (whoever serves it could replay the token).';

const notRead: Check = { status: 'skipped', text: 'Not read.' };

/** Why a layer-3 read cannot be made: no resource name, or no access token. */
function unreadable(resource: IapResource, accessToken: unknown, permission: string, config: Config): Check | undefined {
  if (!resource.name) {
    return {
      status: 'skipped',
      text: `Skipped ${permission === 'iap.webServices.getSettings' ? 'settings' : 'IAM policy'}: the IAP resource is not known from the URL; name it with ${config.nameOf('iap_resource')} (projects/PROJECT_NUMBER/iap_web/…) to read it.`,
    };
  }
  if (typeof accessToken !== 'string') {
    const why = accessToken === undefined ? 'no credential to read it with' : explain(accessToken).split('\n')[0];
    return { status: 'skipped', text: `Skipped (needs ${permission}): ${why}` };
  }
  return undefined;
}

function apiSkip(what: string, error: unknown, permission: string, name: string): Check {
  if (error instanceof ApiError && (error.failure.reason === 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' || /scope/i.test(error.failure.message))) {
    return {
      status: 'skipped',
      text: `${what} not readable: the credential's access token lacks the cloud-platform scope (a refresh token from iap-token login needs --cloud-platform; a VM, the cloud-platform access scope).`,
    };
  }
  if (error instanceof ApiError && (error.failure.status === 403 || error.failure.status === 401)) {
    return {
      status: 'skipped',
      text: `${what} not readable: it needs ${error.failure.permission ?? permission} on ${name} (HTTP ${error.failure.status}).`,
    };
  }
  return { status: 'skipped', text: `${what} not readable: ${explain(error).split('\n')[0]}` };
}

/** What to set: the kind that got through (a signed JWT first: it needs no OAuth client), or that none did. */
function judge(trials: readonly TokenTrial[], config: Config, url: URL): Verdict {
  const passed = trials.filter((trial) => trial.outcome === 'passed');
  const best = passed.find((trial) => trial.kind === 'signed_jwt') ?? passed[0];
  const n = config.nameOf;
  if (!best) {
    // IAP's 403 means it accepted the token and refused its principal: that token is the one, once access is granted.
    const accepted = trials.find((trial) => trial.from === 'iap' && trial.status === 403);
    const then = accepted
      ? ` IAP accepts the ${accepted.kind === 'signed_jwt' ? 'signed JWT' : 'ID token'} (${n('token_type')} ${accepted.kind}, ${n('audience')} ${accepted.audience}) and refuses its principal: grant access, and that is the token to use.`
      : '';
    // A 403 without IAP's mark: IAP let the token through, and what serves the app refused it.
    const behind = trials.find((trial) => trial.from === 'app' && trial.status === 403);
    if (behind) {
      return {
        works: false,
        tokenType: undefined,
        audience: undefined,
        text: `IAP lets the ${behind.kind === 'signed_jwt' ? 'signed JWT' : 'ID token'} through (${n('token_type')} ${behind.kind}, ${n('audience')} ${behind.audience}), and the service behind IAP refuses it with 403. Fix that (below), and that is the token to use.`,
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
    text: `a ${best.kind === 'signed_jwt' ? 'signed JWT' : 'Google-signed ID token'} gets through IAP. Set ${set}.`,
  };
}

/** The problems the trials show. Once some kind works, another kind's refusal is a note in its layer, not a problem. */
function trialProblems(
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
        title: `The ${trial.kind === 'id_token' ? 'ID token' : 'signed JWT'} was refused`,
        why: trial.why,
        gcloud: undefined,
        terraform: undefined,
      });
    }
  }
  return problems;
}

function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => !seen.has(problem.title) && Boolean(seen.add(problem.title)));
}
