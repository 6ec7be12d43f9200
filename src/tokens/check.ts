import type { TokenType } from '../config.ts';
import { isEmail } from '../email.ts';
import { ActionError } from '../errors.ts';
import { decodeJwt } from '../jwt.ts';

/** A token ready to hand on, with what we read from it. */
export interface MintedToken {
  readonly token: string;
  readonly kind: TokenType;
  readonly audience: string;
  /** The email the token is for (its `email` claim, else the account we asked for). */
  readonly principal: string;
  readonly expiresAt: Date;
}

export interface Expectations {
  readonly audience: string;
  readonly requireEmail: boolean;
  /** The account the token should be for, when we know it. */
  readonly principal: string | undefined;
  readonly now: number;
}

/** A token IAP would refuse is our error to report here, not a smoke test's 401 later. */
export function checkIdToken(token: string, expect: Expectations): MintedToken {
  const jwt = decodeJwt(token);
  if (!jwt) throw new ActionError('Google returned a token that is not a JWT; IAP would refuse it.');
  const { aud, exp, email } = jwt.claims;
  if (aud !== expect.audience) {
    throw new ActionError(
      `The minted token's audience is "${String(aud)}", not the audience asked for ("${expect.audience}"); IAP would refuse it.`,
    );
  }
  if (typeof exp !== 'number' || exp * 1000 <= expect.now) {
    throw new ActionError("The minted token has already expired (check the runner's clock); IAP would refuse it.");
  }
  if (expect.requireEmail && typeof email !== 'string') {
    throw new ActionError("The minted token has no email claim; IAP refuses such tokens (\"JWT 'email' claim isn't a string\").");
  }
  if (typeof email === 'string' && expect.principal && email.toLowerCase() !== expect.principal.toLowerCase()) {
    throw new ActionError(`The minted token is for ${email}, not ${expect.principal} as asked.`);
  }
  // The email is logged and published as `principal`: only an email is believed.
  if (typeof email === 'string' && !isEmail(email))
    throw new ActionError("The minted token's email claim is not an email address; IAP would refuse it.");
  const principal = typeof email === 'string' ? email : (expect.principal ?? 'unknown');
  return { token, kind: 'id_token', audience: expect.audience, principal, expiresAt: new Date(exp * 1000) };
}

export interface SignedJwtExpectations {
  readonly audience: string;
  readonly signer: string;
  readonly lifetimeSeconds: number;
  readonly now: number;
}

/** IAP's rules for a service-account-signed JWT: RS256, iss = sub = the account, the audience, at most an hour. */
export function checkSignedJwt(token: string, expect: SignedJwtExpectations): MintedToken {
  const jwt = decodeJwt(token);
  if (!jwt) throw new ActionError('The signed JWT is not a JWT; IAP would refuse it.');
  const { iss, sub, aud, iat, exp } = jwt.claims;
  if (jwt.header['alg'] !== 'RS256')
    throw new ActionError(`The signed JWT uses ${String(jwt.header['alg'])}, not RS256; IAP would refuse it.`);
  if (typeof jwt.header['kid'] !== 'string' || !jwt.header['kid']) {
    throw new ActionError('The signed JWT names no key (kid); IAP, which looks the key up by it, would refuse it.');
  }
  if (iss !== expect.signer || sub !== expect.signer) {
    throw new ActionError(
      `The signed JWT names ${String(iss)} as issuer and ${String(sub)} as subject, not ${expect.signer}; IAP would refuse it.`,
    );
  }
  if (aud !== expect.audience) throw new ActionError(`The signed JWT's audience is "${String(aud)}", not "${expect.audience}".`);
  if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > 3600 || exp * 1000 <= expect.now) {
    throw new ActionError('The signed JWT is expired or lives longer than an hour; IAP would refuse it.');
  }
  return { token, kind: 'signed_jwt', audience: expect.audience, principal: expect.signer, expiresAt: new Date(exp * 1000) };
}

export interface AccessTokenExpectations {
  /** When Google said the token expires (ms since the epoch). */
  readonly expiresAt: number;
  /** The account the token is for, when the credential knows it. */
  readonly principal: string | undefined;
  readonly now: number;
}

/** An access token goes out for as long as Google says it lives; at most this long is believed (12 h, Google's most). */
const MAX_ACCESS_TOKEN_LIFE_MS = 12 * 3600_000;

/**
 * An access token is opaque: its shape (secretField's, as it was read) and its lifetime are what can be checked here.
 * It is never decoded: a JWT in its place would be some other credential, which IAP would take for what it is.
 */
export function checkAccessToken(token: string, expect: AccessTokenExpectations): MintedToken {
  if (decodeJwt(token)) throw new ActionError('Google returned a JWT where an access token was asked for; it is not handed on.');
  if (!(expect.expiresAt > expect.now)) {
    throw new ActionError("The minted access token has already expired (check the runner's clock); IAP would refuse it.");
  }
  const expiresAt = new Date(Math.min(expect.expiresAt, expect.now + MAX_ACCESS_TOKEN_LIFE_MS));
  return { token, kind: 'access_token', audience: '', principal: expect.principal ?? 'unknown', expiresAt };
}

/** The log line for a fresh token: who, for what, until when; never the token. */
export function describeMinted(minted: MintedToken, now: number = Date.now()): string {
  const minutes = Math.round((minted.expiresAt.getTime() - now) / 60_000);
  const what = minted.kind === 'access_token' ? 'scopes openid and email (no audience)' : `audience ${minted.audience}`;
  return `Minted ${kindOf(minted.kind, 'a')} for ${minted.principal}, ${what}, expires ${rfc3339(minted.expiresAt)} (in ${minutes} min).`;
}

const KIND_NAMES: { readonly [kind in TokenType]: string } = {
  id_token: 'ID token',
  signed_jwt: 'signed JWT',
  access_token: 'access token',
};

/**
 * "ID token", "signed JWT" or "access token": how logs, the summary and the doctor name a kind of token; with its
 * article (`a`), or to begin a sentence (`Capital`).
 */
export function kindOf(kind: TokenType, form?: 'a' | 'Capital'): string {
  const name = KIND_NAMES[kind];
  if (form === 'a') return `${kind === 'signed_jwt' ? 'a' : 'an'} ${name}`;
  return form === 'Capital' ? `${name.charAt(0).toUpperCase()}${name.slice(1)}` : name;
}

/** The RFC 3339 form of `expires_at`, to the second. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
