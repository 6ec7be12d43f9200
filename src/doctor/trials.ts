import type { Config, TokenType } from '../config.ts';
import { explain } from '../errors.ts';
import type { IapSettings } from '../google/iap-admin.ts';
import type { IapRefusal } from '../iap/answers.ts';
import { sendThroughIap } from '../iap/trial.ts';
import { explainRefusal, type RefusalContext } from '../iap/refusals.ts';
import type { IapProbe } from '../iap/probe.ts';
import { decodeJwt } from '../jwt.ts';
import { printable } from '../printable.ts';
import type { Credential } from '../credentials/index.ts';
import { cannotMintAccessToken } from '../credentials/iap-access.ts';
import { cannotSign } from '../credentials/signing.ts';
import { createMinter, type Minter } from '../pipeline.ts';
import { kindOf, rfc3339, type MintedToken } from '../tokens/check.ts';
import type { Check, TokenTrial } from './report.ts';
import type { DoctorOptions } from './run.ts';
import { QUIET } from '../logger.ts';

// The doctor's token trials: each kind and audience minted with the caller's credential and sent to the app where
// IAP answers, and what each refusal means.

export interface Candidate {
  readonly minter: Minter | undefined;
  /** Why no minter could be set up for this kind (the caller cannot sign, …). */
  readonly refused: string | undefined;
}

/** A minter for one token kind with the caller's credential; quiet, for its progress is the doctor's. */
export function minterFor({ config, env, http }: DoctorOptions, credential: Credential, kind: TokenType, audience: string): Candidate {
  const unscoped = kind === 'access_token' ? cannotMintAccessToken(config.source, config.serviceAccount, env) : undefined;
  if (unscoped) return { minter: undefined, refused: `${unscoped}; set ${config.nameOf('service_account')} to mint one through IAM.` };
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
    auto: false,
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
  const base = { kind, audience, sent: undefined, status: null, from: null, refusal: undefined } as const;
  if (!candidate.minter) return { ...base, outcome: 'not-minted', why: candidate.refused ?? 'no credential' };
  let minted: MintedToken;
  try {
    minted = await candidate.minter.mint();
  } catch (error) {
    return { ...base, outcome: 'not-minted', why: explain(error) };
  }
  // An access token is opaque: only a JWT's claims are read.
  const claims = kind === 'access_token' ? {} : (decodeJwt(minted.token)?.claims ?? {});
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const sent = {
    aud: kind === 'access_token' ? 'none (an access token)' : (text(claims['aud']) ?? minted.audience),
    email: text(claims['email']) ?? text(claims['iss']) ?? minted.principal,
    exp: rfc3339(minted.expiresAt),
  };
  const trial = await sendThroughIap(options.http, url, minted.token, `${kindOf(kind, 'Capital')} trial`);
  const { status, from, response } = trial;
  if (!response) return { ...base, sent, outcome: 'refused', why: `no answer: ${trial.failure ?? 'unknown error'}` };
  if (from === 'iap') {
    const refusal = trial.refusal ?? 'other';
    const why = refusalWhy(refusal, response.body, { header: 'authorization', principal: minted.principal, kind });
    return { ...base, sent, status, from, refusal, outcome: 'refused', why };
  }
  if (status === 403) {
    return { ...base, sent, status, from, outcome: 'refused', why: 'IAP let it through, and the service behind IAP refused it (403).' };
  }
  return { ...base, sent, status, from, outcome: 'passed', why: `IAP let it through; the app answered ${status}.` };
}

/** An access token refused as IAP refuses a token it cannot read as a JWT: the app does not take access tokens. */
export function notTaken(trial: TokenTrial): boolean {
  return trial.kind === 'access_token' && trial.from === 'iap' && trial.status === 401 && trial.refusal === 'parse';
}

export function refusalWhy(refusal: IapRefusal, body: string, context: RefusalContext): string {
  const said = printable(body.slice(0, 120)).replace(/\s+/g, ' ').trim();
  const quoted = refusal === 'forbidden' ? 'IAP refused it (403)' : `IAP refused it: "${said}"`;
  const explanation = explainRefusal(refusal, 'trial', context);
  return `${quoted}. ${explanation.charAt(0).toUpperCase()}${explanation.slice(1)}`;
}

export function describeTrial(trial: TokenTrial): Check {
  const what = `${kindOf(trial.kind, 'Capital')} ${trial.kind === 'access_token' ? '(openid, email)' : `for ${trial.audience}`}`;
  const sent = trial.sent ? ` Sent: aud ${trial.sent.aud}, email ${trial.sent.email}, exp ${trial.sent.exp}.` : '';
  if (trial.outcome === 'not-minted') return { status: 'skipped', text: `${what}: not minted: ${trial.why}` };
  // Apps take access tokens or not: one that does not is told, not a problem to fix.
  if (notTaken(trial)) return { status: 'info', text: `${what}: ${trial.why}${sent}` };
  return { status: trial.outcome === 'passed' ? 'ok' : 'problem', text: `${what}: ${trial.why}${sent}` };
}

export function describeCaller(config: Config): string {
  return config.serviceAccount ? `${config.source.origin}, as ${config.serviceAccount}` : config.source.origin;
}
