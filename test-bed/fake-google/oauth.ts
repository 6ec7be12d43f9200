import { createHash } from 'node:crypto';
import { parse, verify } from './jwt.ts';
import { oauthError, parseBody, type FakeGoogle, type Reply, type Req, text } from './server.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google tolerates a few minutes of clock skew on assertions. */
const SKEW_S = 300;

/** `POST /oauth2/token`: the JWT-bearer grant with `target_audience` (an ID token) or `scope` (an access token). */
export function handleOAuthToken(fake: FakeGoogle, req: Req): Reply {
  if (req.method !== 'POST') return { status: 405, body: 'Method Not Allowed' };
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    return oauthError(400, 'invalid_request', 'Invalid Content-Type; expected application/x-www-form-urlencoded.');
  }
  const form = parseBody(req) ?? {};
  const grantType = form['grant_type'];
  if (grantType === JWT_BEARER) return jwtBearer(fake, text(form['assertion']), `${req.origin}/oauth2/token`);
  if (grantType === 'refresh_token') return refreshGrant(fake, form);
  if (grantType === 'authorization_code') return authorizationCodeGrant(fake, form);
  if (!grantType) return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type: ');
  return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${text(grantType)}`);
}

function jwtBearer(fake: FakeGoogle, assertion: string, tokenUrl: string): Reply {
  const jwt = parse(assertion);
  if (!jwt) return oauthError(400, 'invalid_grant', 'Invalid JWT: invalid assertion');
  const { iss, aud, iat, exp, scope, target_audience: targetAudience } = jwt.claims;
  const account = typeof iss === 'string' ? fake.serviceAccounts.get(iss) : undefined;
  if (!account) return oauthError(400, 'invalid_grant', 'Invalid grant: account not found');
  if (jwt.header['kid'] !== undefined && jwt.header['kid'] !== account.key.kid) {
    return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
  }
  if (!verify(jwt, account.key.publicKey)) return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
  if (account.disabled) return oauthError(400, 'invalid_grant', 'Invalid grant: account disabled');
  if (aud !== tokenUrl) {
    return oauthError(400, 'invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${tokenUrl}`);
  }
  const now = Math.floor(fake.now() / 1000);
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > 3600 || iat > now + SKEW_S || exp < now - SKEW_S) {
    return oauthError(
      400,
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
    );
  }
  if (typeof targetAudience === 'string' && targetAudience && scope === undefined) {
    // Google's ID tokens from this grant always carry the email claim.
    return { status: 200, body: { id_token: fake.issueIdToken(account, targetAudience, true) } };
  }
  if (typeof scope === 'string' && scope && targetAudience === undefined) {
    const accessToken = fake.issueAccessToken({ kind: 'serviceAccount', email: account.email, scopes: scope.split(' ') });
    return { status: 200, body: { access_token: accessToken, expires_in: fake.accessTokenLifetimeS, token_type: 'Bearer' } };
  }
  return oauthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
}

/** The refresh grant, as a desktop OAuth client uses it: an access token, and an ID token when `openid` was granted. */
function refreshGrant(fake: FakeGoogle, form: Record<string, unknown>): Reply {
  const clientId = text(form['client_id']);
  const secret = fake.oauthClients.get(clientId);
  if (!clientId || secret === undefined || secret !== form['client_secret']) {
    return oauthError(401, 'invalid_client', 'Unauthorized');
  }
  const grant = fake.refreshTokens.get(text(form['refresh_token']));
  if (!grant || grant.clientId !== clientId) return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
  const audience = form['audience'] ?? form['target_audience'];
  const knownAudiences = [
    fake.iap.clientId,
    ...fake.iap.programmaticClients,
    ...fake.runIap.programmaticClients,
    ...fake.oauthClients.keys(),
  ];
  if (audience !== undefined && !knownAudiences.includes(text(audience))) {
    return oauthError(400, 'invalid_audience', 'The audience client and the client need to be in the same project.');
  }
  const accessToken = fake.issueAccessToken({ kind: 'user', email: grant.email, scopes: grant.scopes });
  const uniqueId = `1${Buffer.from(grant.email).toString('hex').slice(0, 20)}`;
  const idToken = grant.scopes.includes('openid')
    ? fake.issueIdToken(
        { email: grant.email, uniqueId, azp: clientId },
        audience === undefined ? clientId : text(audience),
        grant.scopes.includes('email'),
      )
    : undefined;
  return {
    status: 200,
    body: {
      access_token: accessToken,
      expires_in: fake.accessTokenLifetimeS,
      scope: grantedScope(grant.scopes),
      token_type: 'Bearer',
      ...(idToken ? { id_token: idToken } : {}),
    },
  };
}

/**
 * `GET /o/oauth2/v2/auth`: Google's sign-in. The person (fake.signIn) signs in at once and consents or not; the
 * browser is sent back to the loopback redirect with a code, or an error, and the state.
 */
export function handleAuthorize(fake: FakeGoogle, req: Req): Reply {
  const q = req.query;
  const clientId = q.get('client_id') ?? '';
  const redirectUri = q.get('redirect_uri') ?? '';
  const fail = (message: string): Reply => ({
    status: 400,
    headers: { 'content-type': 'text/html' },
    body: `<title>Error 400: invalid_request</title>${message}`,
  });
  if (!fake.oauthClients.has(clientId))
    return {
      status: 401,
      headers: { 'content-type': 'text/html' },
      body: '<title>Error 401: invalid_client</title>The OAuth client was not found.',
    };
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/.*)?$/.test(redirectUri))
    return fail('redirect_uri must be a loopback address for a desktop client.');
  if (q.get('response_type') !== 'code') return fail('response_type must be code.');
  if (!(q.get('scope') ?? '').split(' ').includes('openid')) return fail('scope must include openid.');
  if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge'))
    return fail('PKCE: code_challenge with method S256 is required.');
  const back = new URL(redirectUri);
  const state = q.get('state');
  if (state !== null) back.searchParams.set('state', state);
  if (!fake.signIn.consent) {
    back.searchParams.set('error', 'access_denied');
  } else {
    const code = `4/0A${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url')}`;
    fake.authorizationCodes.set(code, { clientId, redirectUri, challenge: q.get('code_challenge') ?? '', email: fake.signIn.email });
    fake.secrets.add(code);
    back.searchParams.set('code', code);
    back.searchParams.set('scope', 'email openid https://www.googleapis.com/auth/userinfo.email');
  }
  return { status: 302, headers: { location: back.toString() }, body: '' };
}

/** The code exchange: the code once, for the client and redirect it was issued to, with the PKCE verifier. */
function authorizationCodeGrant(fake: FakeGoogle, form: Record<string, unknown>): Reply {
  const clientId = text(form['client_id']);
  const secret = fake.oauthClients.get(clientId);
  if (secret === undefined || secret !== form['client_secret']) return oauthError(401, 'invalid_client', 'Unauthorized');
  const code = text(form['code']);
  const issued = fake.authorizationCodes.get(code);
  fake.authorizationCodes.delete(code);
  if (!issued || issued.clientId !== clientId) return oauthError(400, 'invalid_grant', 'Malformed auth code.');
  if (issued.redirectUri !== text(form['redirect_uri'])) return oauthError(400, 'redirect_uri_mismatch', 'Bad Request');
  const verifier = text(form['code_verifier']);
  if (createHash('sha256').update(verifier).digest('base64url') !== issued.challenge)
    return oauthError(400, 'invalid_grant', 'Invalid code verifier.');
  const audience = form['audience'] === undefined ? clientId : text(form['audience']);
  const knownAudiences = [
    fake.iap.clientId,
    ...fake.iap.programmaticClients,
    ...fake.runIap.programmaticClients,
    ...fake.oauthClients.keys(),
  ];
  if (!knownAudiences.includes(audience))
    return oauthError(400, 'invalid_audience', 'The audience client and the client need to be in the same project.');
  const scopes = ['openid', 'email'];
  const refreshToken = `1//0g${Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url')}`;
  fake.refreshTokens.set(refreshToken, { clientId, email: issued.email, scopes });
  fake.secrets.add(refreshToken);
  const uniqueId = `1${Buffer.from(issued.email).toString('hex').slice(0, 20)}`;
  return {
    status: 200,
    body: {
      access_token: fake.issueAccessToken({ kind: 'user', email: issued.email, scopes }),
      expires_in: fake.accessTokenLifetimeS,
      refresh_token: refreshToken,
      scope: grantedScope(scopes),
      token_type: 'Bearer',
      id_token: fake.issueIdToken({ email: issued.email, uniqueId, azp: clientId }, audience, true),
    },
  };
}

/** A grant's `scope` as Google answers it: what a sign-in asked for as `email` is named by its full URL. */
function grantedScope(scopes: readonly string[]): string {
  return scopes.map((scope) => (scope === 'email' ? 'https://www.googleapis.com/auth/userinfo.email' : scope)).join(' ');
}
