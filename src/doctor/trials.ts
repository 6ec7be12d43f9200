import type { Config, TokenType } from '../config.ts';
import { ApiError, explain } from '../errors.ts';
import type { IapSettings } from '../google/iap-admin.ts';
import { answeredBy, iapRefusal, type IapRefusal } from '../iap/answers.ts';
import { explainRefusal, type RefusalContext } from '../iap/refusals.ts';
import type { IapProbe } from '../iap/probe.ts';
import { decodeJwt } from '../jwt.ts';
import { printable } from '../printable.ts';
import type { Credential } from '../credentials/index.ts';
import { cannotSign } from '../credentials/signing.ts';
import { createMinter, type Minter } from '../pipeline.ts';
import { kindOf, rfc3339, type MintedToken } from '../tokens/check.ts';
import { displayUrl } from '../urls.ts';
import type { Check, TokenTrial } from './report.ts';
import type { DoctorOptions } from './run.ts';
import { QUIET } from '../logger.ts';

// The doctor's token trials: each kind and audience minted with the caller's credential and sent to the app where
// IAP answers, and what each refusal means.

/** A token trial is one request (two on a 5xx): the doctor diagnoses; it does not wait for grants to propagate. */
export const TRIAL_RETRY = { attempts: 2, timeoutMs: 15_000, budgetMs: 20_000 };

export interface Candidate {
  readonly minter: Minter | undefined;
  /** Why no minter could be set up for this kind (the caller cannot sign, …). */
  readonly refused: string | undefined;
}

/** A minter for one token kind with the caller's credential; quiet, for its progress is the doctor's. */
export function minterFor({ config, env, http }: DoctorOptions, credential: Credential, kind: TokenType, audience: string): Candidate {
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
export function idTokenAudiences(config: Config, probe: IapProbe, settings: IapSettings | undefined): string[] {
  const given = config.tokenType === 'id_token' && config.audience ? [config.audience] : [];
  const candidates = [
    ...given,
    ...(probe.clientId ? [probe.clientId] : []),
    ...(settings?.clientId ? [settings.clientId] : []),
    ...(settings?.programmaticClients ?? []),
  ];
  return [...new Set(candidates)];
}

export async function tryToken(
  options: DoctorOptions,
  url: URL,
  kind: TokenType,
  audience: string,
  candidate: Candidate,
): Promise<TokenTrial> {
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
      what: `${kindOf(kind, 'Capital')} trial at ${displayUrl(url)}`,
      method: 'GET',
      url: url.href,
      headers: { authorization: `Bearer ${minted.token}` },
      retry: TRIAL_RETRY,
    });
    const from = answeredBy(response.headers);
    if (from === 'iap') {
      const refusal = iapRefusal(response.status, response.body);
      return {
        ...base,
        sent,
        status: response.status,
        from,
        outcome: 'refused',
        why: refusalWhy(refusal, response.body, { header: 'authorization', principal: minted.principal, kind }),
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

export function refusalWhy(refusal: IapRefusal, body: string, context: RefusalContext): string {
  const said = printable(body.slice(0, 120)).replace(/\s+/g, ' ').trim();
  const quoted = refusal === 'forbidden' ? 'IAP refused it (403)' : `IAP refused it: "${said}"`;
  return `${quoted}. ${explainRefusal(refusal, 'trial', context)}`;
}

export function describeTrial(trial: TokenTrial): Check {
  const what = `${kindOf(trial.kind, 'Capital')} for ${trial.audience}`;
  const sent = trial.sent ? ` Sent: aud ${trial.sent.aud}, email ${trial.sent.email}, exp ${trial.sent.exp}.` : '';
  if (trial.outcome === 'not-minted') return { status: 'skipped', text: `${what}: not minted: ${trial.why}` };
  return { status: trial.outcome === 'passed' ? 'ok' : 'problem', text: `${what}: ${trial.why}${sent}` };
}

export function describeCaller(config: Config): string {
  return config.serviceAccount ? `${config.source.origin}, as ${config.serviceAccount}` : config.source.origin;
}
