import { ActionError } from '../errors.ts';
import { registerSecret } from '../secrets.ts';

/** An access token and when it stops working (ms since the epoch), so that a long-lived caller knows when to renew it. */
export interface AccessToken {
  readonly token: string;
  readonly expiresAt: number;
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** The email scope by its full name, as Google lists it in a grant's `scope`. */
const EMAIL_SCOPE = 'https://www.googleapis.com/auth/userinfo.email';

/** The scopes IAP requires of an OAuth access token it accepts: openid and email. */
export const IAP_ACCESS_SCOPES: readonly string[] = ['openid', EMAIL_SCOPE];

/** Does a grant's `scope` (space-separated) hold openid and email? A sign-in asks for `email`, Google answers its URL. */
export function grantsIapScopes(scope: string): boolean {
  const granted = new Set(scope.split(' '));
  return granted.has('openid') && (granted.has('email') || granted.has(EMAIL_SCOPE));
}

/** A grant's `scope` as a log may show it: scope names only (a server's text is never shown as it came). */
export function shownScopes(scope: string): string {
  const names = scope
    .split(' ')
    .filter((name) => /^[\w.:/-]{1,100}$/.test(name))
    .slice(0, 10);
  return names.length ? names.join(' ') : 'none';
}

/** The fields whose value is a JWT (ID tokens, signed JWTs, GitHub's OIDC token); every other token is opaque. */
const JWT_FIELDS = new Set(['id_token', 'token', 'signedJwt', 'value']);

/**
 * Reads a token field from an answer and masks it before anyone can print it; but only once it has the shape and
 * size of such a token. A server answering 200 with a page of text must not register thousands of masks (which
 * blank ordinary words in the job's log), and what came instead is described, never quoted.
 */
export function secretField(answer: Record<string, unknown>, name: string, from: string): string {
  const value = answer[name];
  if (typeof value !== 'string' || !value) {
    throw new ActionError(`${from} answered without ${name} (fields: ${describeFields(answer)}).`);
  }
  return checkedToken(value, JWT_FIELDS.has(name) ? 'jwt' : 'opaque', `${from}'s ${name}`);
}

/** A credential of the shape given: a JWT (three base64url parts), or an opaque token (printable, no spaces). */
export function checkedToken(value: string, shape: 'jwt' | 'opaque' | 'subject', what: string): string {
  const fits =
    shape === 'jwt'
      ? value.length <= MAX_JWT_CHARS && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value)
      : value.length <= (shape === 'subject' ? MAX_SUBJECT_CHARS : MAX_OPAQUE_CHARS) && /^[\x21-\x7e]+$/.test(value);
  if (!fits) {
    throw new ActionError(
      `${what} is not ${shape === 'jwt' ? 'a JWT' : 'a token'}: ${value.length} characters that are not one (not shown).`,
    );
  }
  registerSecret(value);
  return value;
}

const MAX_JWT_CHARS = 16_384;
const MAX_OPAQUE_CHARS = 8_192;
/** A federation's subject token may be a SAML assertion, base64 of a whole XML document. */
const MAX_SUBJECT_CHARS = 65_536;

/** Field names only, a few and short: the answer's values are never shown. */
function describeFields(answer: Record<string, unknown>): string {
  const names = Object.keys(answer).map((name) => name.slice(0, 40).replace(/[^\w.-]/g, '?'));
  if (names.length === 0) return 'none';
  return names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', ');
}

/**
 * When a token from an OAuth-style answer expires: its `expires_in` (seconds), else Google's usual hour. Read at
 * receipt, so the hour is counted from when the answer arrived.
 */
export function expiresAt(answer: Record<string, unknown>, now: number): number {
  const seconds = typeof answer['expires_in'] === 'number' ? answer['expires_in'] : Number(answer['expires_in']);
  return now + (Number.isFinite(seconds) && seconds > 0 ? seconds : 3600) * 1000;
}
