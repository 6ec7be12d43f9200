import type { TokenType } from '../config.ts';
import { quote } from '../errors.ts';
import { carriesTokens, displayUrl } from '../urls.ts';
import type { Context } from './context.ts';
import { parseUrlInput } from './values.ts';

// audience and lifetime: a signed JWT's URL audience, an ID token's client ID, and how long a signed JWT lives.

export function readAudience({ fail, words }: Context, audience: string): string {
  if (!audience) {
    fail(
      'audience',
      'is required: the OAuth client ID of the IAP-protected app (…apps.googleusercontent.com). Find it in the console under Security > Identity-Aware Proxy, or in the client_id of the sign-in page IAP redirects a browser to.',
    );
  }
  if (/\s/.test(audience)) fail('audience', 'must be a single value without spaces.');
  if (/^https?:\/\//i.test(audience)) {
    fail(
      'audience',
      `is a URL, but IAP accepts ID tokens only for an OAuth client ID (…apps.googleusercontent.com). For a URL audience, ${words.setting('token_type', 'signed_jwt')}.`,
    );
  }
  return audience;
}

/** IAP takes a signed JWT's audience as the app's URL, exact or with a trailing path wildcard (`https://host/*`). */
export function readUrlAudience(ctx: Context, audience: string): string {
  const { fail, words } = ctx;
  const accepted = "the app's URL, https://HOST/PATH or https://HOST/* for every path";
  const signedJwt = `with ${words.name('token_type')} signed_jwt`;
  if (!audience) fail('audience', `is required: ${signedJwt}, ${accepted}.`);
  // Shown without userinfo or query, which may hold secrets.
  const url = parseUrlInput(ctx, 'audience', audience, {
    notUrl: `must be a URL ${signedJwt} (${accepted})`,
    userinfo: `must be a URL without a user name or password ${signedJwt} (${accepted})`,
  });
  if (!carriesTokens(url)) fail('audience', `must be an https URL ${signedJwt} (${accepted}), got ${quote(displayUrl(url))}`);
  // IAP compares the audience with the URL it serves, so the audience is that URL normalised (host in lower case, no
  // default port); a wildcard is allowed only as a whole last path segment, so https://host* cannot cover host.evil.
  const normalized = `${url.origin}${url.pathname}`;
  const wildcard = normalized.indexOf('*');
  if ((wildcard !== -1 && !(wildcard === normalized.length - 1 && normalized.endsWith('/*'))) || url.search || url.hash) {
    fail('audience', `may end in /* but have no other wildcard, query or fragment (${accepted}), got ${quote(displayUrl(url))}`);
  }
  return normalized;
}

export function readLifetime({ fail, words }: Context, value: string, tokenType: TokenType): number {
  if (!value) return 3600;
  if (tokenType !== 'signed_jwt') {
    fail(
      'lifetime',
      `applies to ${words.name('token_type')} signed_jwt only: Google sets an ID token's and an access token's lifetime (one hour).`,
    );
  }
  const seconds = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 60 && seconds <= 3600)) {
    fail('lifetime', `must be whole seconds from 60 to 3600 (IAP refuses signed JWTs that live longer than an hour), got ${quote(value)}`);
  }
  return seconds;
}
