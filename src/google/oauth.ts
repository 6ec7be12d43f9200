import type { ApiFailure } from '../errors.ts';
import type { Http } from '../http/client.ts';
import { decodeJwt } from '../jwt.ts';
import { expiresAt, secretField, type AccessToken } from './answer.ts';
import { googleFailure } from './failure.ts';

// Google's OAuth 2.0 token endpoint: the JWT-bearer grant (a service-account key), the refresh grant (a user's
// refresh token) and the authorization-code grant (the CLI's sign-in). One form POST for all three; every token in an
// answer is masked as it is read; each grant declares what to do when Google refuses it.

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const FROM = 'The OAuth token endpoint';

/** A key's signer, for remedies: its email and where the key came from (`credentials_json`, a file). */
export interface KeySigner {
  readonly email: string;
  readonly origin: string;
}

/** A desktop OAuth client and a user's refresh token from it; the origins say where each came from, for remedies. */
export interface RefreshTokenGrant {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  /** Where the refresh token came from: `refresh_token`, `--refresh-token`, an ADC file. */
  readonly origin: string;
  /** Where the client came from: `oauth_client_id and oauth_client_secret`, `--client-id and the client secret`. */
  readonly clientOrigin: string;
}

export class OAuthTokenEndpoint {
  readonly #http: Http;
  readonly #now: () => number;

  constructor(http: Http, now: () => number = Date.now) {
    this.#http = http;
    this.#now = now;
  }

  /** JWT-bearer grant with `target_audience`: a Google-signed ID token for the key's own account, no IAM role needed. */
  async keyIdToken(tokenUrl: string, assertion: string, signer: KeySigner): Promise<string> {
    const answer = await this.#post(
      `ID token for ${signer.email} (OAuth JWT-bearer grant)`,
      tokenUrl,
      {
        grant_type: JWT_BEARER,
        assertion,
      },
      (failure) => keyGrantRemedy(failure, signer),
    );
    return secretField(answer, 'id_token', FROM);
  }

  /** JWT-bearer grant with `scope`: an access token for the key's own account. */
  async keyAccessToken(tokenUrl: string, assertion: string, signer: KeySigner): Promise<AccessToken> {
    const answer = await this.#post(
      `Access token for ${signer.email} (OAuth JWT-bearer grant)`,
      tokenUrl,
      {
        grant_type: JWT_BEARER,
        assertion,
      },
      (failure) => keyGrantRemedy(failure, signer),
    );
    return { token: secretField(answer, 'access_token', FROM), expiresAt: expiresAt(answer, this.#now()) };
  }

  /** Refresh grant with `audience` (as IAP's documentation does): an ID token for it in one request. */
  async refreshIdToken(base: string, grant: RefreshTokenGrant, audience: string): Promise<string> {
    const answer = await this.#refresh(base, grant, 'ID token from the refresh token (OAuth refresh grant)', { audience });
    if (typeof answer['access_token'] === 'string') secretField(answer, 'access_token', FROM);
    return secretField(answer, 'id_token', `${FROM} (was the refresh token granted the openid scope?)`);
  }

  /**
   * Refresh grant without an audience: an access token, the scopes Google says it holds ("" when the answer does not
   * say), and the user's email when the answer names it.
   */
  async refreshAccessToken(
    base: string,
    grant: RefreshTokenGrant,
  ): Promise<{ accessToken: AccessToken; scope: string; email: string | undefined }> {
    const answer = await this.#refresh(base, grant, 'Access token from the refresh token (OAuth refresh grant)', {});
    // With the openid scope the answer carries an ID token too: it names the user, for remedies.
    const email = typeof answer['id_token'] === 'string' ? emailOf(secretField(answer, 'id_token', FROM)) : undefined;
    const accessToken = { token: secretField(answer, 'access_token', FROM), expiresAt: expiresAt(answer, this.#now()) };
    return { accessToken, scope: typeof answer['scope'] === 'string' ? answer['scope'] : '', email };
  }

  /** Authorization-code grant with PKCE, for a sign-in that came back to a loopback redirect. */
  async exchangeCode(
    base: string,
    exchange: { clientId: string; clientSecret: string; code: string; redirectUri: string; verifier: string; clientOrigin: string },
  ): Promise<{ refreshToken: string | undefined; email: string | undefined }> {
    const answer = await this.#post(
      'Code exchange (OAuth authorization_code grant)',
      `${base}/token`,
      {
        grant_type: 'authorization_code',
        code: exchange.code,
        redirect_uri: exchange.redirectUri,
        client_id: exchange.clientId,
        client_secret: exchange.clientSecret,
        code_verifier: exchange.verifier,
      },
      (failure) => (failure.code === 'invalid_client' ? `Fix: check ${exchange.clientOrigin}: a client of type "Desktop app".` : undefined),
    );
    if (typeof answer['access_token'] === 'string') secretField(answer, 'access_token', FROM);
    const refreshToken = typeof answer['refresh_token'] === 'string' ? secretField(answer, 'refresh_token', FROM) : undefined;
    const email = typeof answer['id_token'] === 'string' ? emailOf(secretField(answer, 'id_token', FROM)) : undefined;
    return { refreshToken, email };
  }

  #refresh(base: string, grant: RefreshTokenGrant, what: string, extra: Record<string, string>): Promise<Record<string, unknown>> {
    return this.#post(
      what,
      `${base}/token`,
      {
        grant_type: 'refresh_token',
        client_id: grant.clientId,
        client_secret: grant.clientSecret,
        refresh_token: grant.refreshToken,
        ...extra,
      },
      (failure) => refreshRemedy(failure, grant),
    );
  }

  #post(
    what: string,
    url: string,
    form: Record<string, string>,
    remedy: (failure: ApiFailure) => string | undefined,
  ): Promise<Record<string, unknown>> {
    return this.#http.json({
      failure: googleFailure,
      what,
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      remedy,
    });
  }
}

function emailOf(idToken: string): string | undefined {
  const email = decodeJwt(idToken)?.claims['email'];
  return typeof email === 'string' ? email : undefined;
}

function keyGrantRemedy({ code, message }: ApiFailure, { email, origin }: KeySigner): string | undefined {
  if (code === 'invalid_grant' && /signature/i.test(message)) {
    return `Fix: the key in ${origin} was deleted, disabled or replaced. Create a new key for ${email} (gcloud iam service-accounts keys create key.json --iam-account=${email}) and use it in place of the old one (${origin}).`;
  }
  if (code === 'invalid_grant' && /timeframe|short-lived|\biat\b|\bexp\b/i.test(message)) {
    return "Fix: the runner's clock is off by more than a few minutes; sync it (NTP) on a self-hosted runner.";
  }
  if (code === 'invalid_grant' && /account not found|disabled|invalid_account/i.test(message)) {
    return `Fix: the service account ${email} does not exist or is disabled; enable it or use a key of an existing one.`;
  }
  if (code === 'invalid_client' || code === 'unauthorized_client') {
    return `Fix: the key for ${email} is not accepted; check that the service account is enabled and the key not revoked.`;
  }
  return undefined;
}

function refreshRemedy({ code }: ApiFailure, grant: RefreshTokenGrant): string | undefined {
  if (code === 'invalid_grant') {
    return `Fix: the refresh token was revoked or has expired (refresh tokens of OAuth apps in "Testing" status expire after 7 days; a password change revokes them). Sign in again to get a new one and update ${grant.origin}.`;
  }
  if (code === 'invalid_client' || code === 'unauthorized_client') {
    return `Fix: the OAuth client was not recognised: check ${grant.clientOrigin} are the desktop client that issued the refresh token.`;
  }
  if (code === 'invalid_audience' || code === 'invalid_request') {
    return "Fix: Google refused the audience: it must be the OAuth client ID IAP uses for the app, in the same project as the desktop client, or a client on the app's programmaticClients allowlist.";
  }
  return undefined;
}
