import type { TokenType } from '../config.ts';
import { quote } from '../errors.ts';
import { carriesTokens, displayUrl } from '../urls.ts';
import type { Context } from './context.ts';
import { parseUrlInput } from './values.ts';

/**
 * token_type auto (the default) and an audience left out: the token kind and its audience follow from what the user
 * gave. An audience that is a URL can only be a signed JWT's, a client ID only an ID token's; with neither, the app's
 * URL gives a signed JWT `https://HOST/*` (it needs no OAuth client, so it also works for apps on Google's managed
 * client) or, for a caller that cannot sign, an ID token for the client IAP's sign-in redirect names.
 */
export interface TokenChoice {
  readonly tokenType: TokenType;
  /** The audience given or implied; "" when it is to be found from `audienceFrom`. */
  readonly audience: string;
  /** The app URL whose sign-in redirect names the OAuth client an ID token is for, when no audience was given. */
  readonly audienceFrom: string | undefined;
  /** What was chosen and why, for the log; undefined when the user named both. */
  readonly why: string | undefined;
  /** auto chose a signed JWT from the app's URL alone (the user named neither kind nor audience). */
  readonly signedFromUrl?: boolean;
  /** The user left token_type auto: where IAP refuses an ID token for its audience, an access token may be tried. */
  readonly auto?: boolean;
}

/** Where the app's URL came from, when one is known: app_url, proxy_to, a proxy host, a smoke-tested URL. */
export interface KnownUrl {
  readonly url: URL;
  /** The input it came from, spelled by the front door. */
  readonly from: string;
}

export function chooseToken(
  ctx: Context,
  known: KnownUrl | undefined,
  canSign: { readonly yes: boolean; readonly because: string },
): TokenChoice {
  const { input, fail, words: w } = ctx;
  const given = input('token_type') || 'auto';
  if (given !== 'auto' && given !== 'id_token' && given !== 'signed_jwt' && given !== 'access_token') {
    return fail(
      'token_type',
      `must be auto (the default: chosen from the audience or the app's URL), id_token (a Google-signed ID token for an OAuth client ID), signed_jwt (a service-account-signed JWT for the app's URL) or access_token (an OAuth access token with the openid and email scopes, for apps that take them), got ${quote(given)}`,
    );
  }
  const audience = input('audience');
  if (given === 'access_token') {
    if (audience) {
      fail('audience', `does not go with ${w.name('token_type')} access_token: an access token has no audience. Leave it out.`);
    }
    return { tokenType: 'access_token', audience: '', audienceFrom: undefined, why: undefined };
  }
  const choice = chooseAmong(ctx, given, audience, known, canSign);
  return given === 'auto' ? { ...choice, auto: true } : choice;
}

function chooseAmong(
  ctx: Context,
  given: 'auto' | 'id_token' | 'signed_jwt',
  audience: string,
  known: KnownUrl | undefined,
  canSign: { readonly yes: boolean; readonly because: string },
): TokenChoice {
  const { fail, words: w } = ctx;
  const isUrl = /^https?:\/\//i.test(audience);
  const wildcard = known ? `${known.url.origin}/*` : undefined;
  if (given === 'signed_jwt') {
    return {
      tokenType: 'signed_jwt',
      audience: audience || wildcard || '',
      audienceFrom: undefined,
      why: audience || !known ? undefined : `audience ${wildcard}, every path of ${known.from}'s host.`,
    };
  }
  if (given === 'id_token') {
    if (audience || !known) return { tokenType: 'id_token', audience, audienceFrom: undefined, why: undefined };
    return {
      tokenType: 'id_token',
      audience: '',
      audienceFrom: known.url.href,
      why: `the audience is the OAuth client named by IAP's sign-in redirect at ${displayUrl(known.url)} (${known.from}).`,
    };
  }
  // auto
  if (audience && isUrl) {
    if (!canSign.yes) fail('audience', cannotSign(ctx, canSign.because, `is a URL, which only a signed JWT can carry`));
    return {
      tokenType: 'signed_jwt',
      audience,
      audienceFrom: undefined,
      why: `${w.name('token_type')} auto: signed_jwt, because ${w.name('audience')} is a URL.`,
    };
  }
  if (audience) {
    return {
      tokenType: 'id_token',
      audience,
      audienceFrom: undefined,
      why: `${w.name('token_type')} auto: id_token, because ${w.name('audience')} is an OAuth client ID.`,
    };
  }
  if (!known) {
    return fail(
      'audience',
      `is required, or the app's URL (${w.name('app_url')}): the app's URL as https://HOST/* for a service-account-signed JWT, or the OAuth client ID (…apps.googleusercontent.com) for an ID token. With only the URL given, the audience is found from it.`,
    );
  }
  if (canSign.yes) {
    return {
      tokenType: 'signed_jwt',
      audience: wildcard ?? '',
      audienceFrom: undefined,
      why: `${w.name('token_type')} auto: signed_jwt for ${wildcard} (from ${known.from}): a service-account-signed JWT needs no OAuth client, so it works for apps on Google's managed client too.`,
      signedFromUrl: true,
    };
  }
  return {
    tokenType: 'id_token',
    audience: '',
    audienceFrom: known.url.href,
    why: `${w.name('token_type')} auto: id_token, because ${canSign.because} cannot sign a JWT; its audience is the OAuth client named by IAP's sign-in redirect at ${displayUrl(known.url)} (${known.from}).`,
  };
}

function cannotSign({ words: w }: Context, who: string, what: string): string {
  const setting = w.setting('service_account', 'SA_EMAIL');
  return `${what}, and ${who} cannot sign one. ${setting.charAt(0).toUpperCase()}${setting.slice(1)} to sign as a service account you may impersonate (roles/iam.serviceAccountTokenCreator on it), or give ${w.name('audience')} as the app's OAuth client ID for an ID token (iap-token doctor URL finds it).`;
}

/** app_url: the app behind IAP, https (http only to this machine), shown without user name or query. */
export function readAppUrl(ctx: Context): URL | undefined {
  const { input, fail } = ctx;
  const value = input('app_url');
  if (!value) return undefined;
  const url = parseUrlInput(ctx, 'app_url', value, 'the https URL of the app behind IAP, such as https://app.example.com');
  if (!carriesTokens(url)) return fail('app_url', `must be https (http only to localhost), got ${quote(displayUrl(url))}`);
  return url;
}
