import { parse, verify } from './jwt.ts';
import { GOOGLE_ISSUER, type FakeGoogle, type Reply, type Req, text } from './server.ts';

const IAP = { 'x-goog-iap-generated-response': 'true' };

/**
 * An app behind IAP. IAP checks the bearer token (Proxy-Authorization first, else Authorization) and answers itself,
 * marked by X-Goog-IAP-Generated-Response, when it refuses; what passes reaches the app.
 */
export function handleIapApp(fake: FakeGoogle, req: Req): Reply {
  const passed = iapGate(fake, req);
  if ('status' in passed) return passed;
  fake.appRequests.push({ path: req.path, method: req.method, authorization: passed.ownAuthorization });
  return app(req, passed.email, passed.ownAuthorization);
}

/** What IAP lets through: who the token is for, and the request's own Authorization when the token came in Proxy-Authorization. */
export interface Passed {
  readonly email: string;
  readonly ownAuthorization: string | null;
}

/**
 * IAP's check of one request, from its headers alone (so that streamed and upgraded requests pass the same gate):
 * IAP's own refusal, or who passed.
 */
export function iapGate(fake: FakeGoogle, req: Pick<Req, 'origin' | 'path' | 'headers'>): Reply | Passed {
  // IAP takes a token from Proxy-Authorization first; then the request's own Authorization goes on to the app.
  const proxyToken = bearer(req.headers['proxy-authorization']);
  const token = proxyToken ?? bearer(req.headers['authorization']);
  if (!token) {
    const signIn = new URL('https://accounts.google.com/o/oauth2/v2/auth');
    signIn.searchParams.set('client_id', fake.iap.clientId);
    signIn.searchParams.set('response_type', 'code');
    signIn.searchParams.set('scope', 'openid email');
    signIn.searchParams.set('redirect_uri', `${fake.url}/_gcp_gatekeeper/authenticate`);
    return { status: 302, headers: { ...IAP, location: signIn.toString() }, body: 'Invalid IAP credentials: empty token' };
  }
  const refuse = (message: string): Reply => ({ status: 401, headers: IAP, body: `Invalid IAP credentials: ${message}` });
  // IAP's words for an expired token, as long test suites meet them (kubeflow/pipelines#4321).
  const expired = (): Reply => ({ status: 401, headers: IAP, body: 'OpenID Connect token expired: JWT has expired' });
  const jwt = parse(token);
  if (!jwt) return refuse('Unable to parse JWT');
  const exp = jwt.claims['exp'];
  let email: unknown;
  if (jwt.claims['iss'] === GOOGLE_ISSUER) {
    // A Google-signed ID token: for the app's OAuth client or an allowlisted one, with an email claim.
    if (!verify(jwt, fake.googleKey.publicKey)) return refuse('JWT signature is invalid');
    const audiences = [fake.iap.clientId, ...fake.iap.programmaticClients];
    if (!audiences.includes(String(jwt.claims['aud']))) return refuse('Invalid bearer token. Invalid JWT audience.');
    if (typeof exp !== 'number' || exp * 1000 < fake.now()) return expired();
    email = jwt.claims['email'];
    if (typeof email !== 'string') return refuse("JWT 'email' claim isn't a string");
  } else {
    // A service-account-signed JWT: iss = sub = the account, signed by one of its keys, for this URL, at most an hour.
    const account = fake.serviceAccounts.get(String(jwt.claims['iss']));
    // IAP looks the signing key up by kid among the account's public keys.
    if (!account || jwt.claims['sub'] !== account.email || jwt.header['kid'] !== account.key.kid || !verify(jwt, account.key.publicKey)) {
      return refuse('JWT signature is invalid');
    }
    const aud = text(jwt.claims['aud']);
    const url = `${req.origin}${req.path}`;
    const covers = aud.endsWith('*') ? url.startsWith(aud.slice(0, -1)) : url === aud;
    if (!covers) return refuse('Invalid bearer token. Invalid JWT audience.');
    const iat = jwt.claims['iat'];
    if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > 3600) return refuse('JWT lifetime exceeds one hour');
    // Like Google, a few minutes of clock skew between the signer and IAP are tolerated.
    if (iat * 1000 > fake.now() + 300_000) return refuse('JWT issued in the future');
    if (exp * 1000 < fake.now()) return expired();
    email = account.email;
  }
  if (typeof email !== 'string') return refuse("JWT 'email' claim isn't a string");
  const member = email.endsWith('.gserviceaccount.com') ? `serviceAccount:${email}` : `user:${email}`;
  const since = fake.iap.accessors.get(member);
  if (since === undefined || since > fake.now()) {
    return {
      status: 403,
      headers: { ...IAP, 'content-type': 'text/html' },
      body: "<html><head><title>Error 403 (Forbidden)</title></head><body>You don't have access. Please contact your administrator.</body></html>",
    };
  }
  const ownAuthorization = proxyToken ? String(req.headers['authorization'] ?? '') || null : null;
  return { email, ownAuthorization };
}

/**
 * Another origin beside the app, with no IAP in front (a CDN, an analytics host): it records the credentials it was
 * sent, which must be none, and allows any page to fetch from it.
 */
export function handlePublic(fake: FakeGoogle, req: Req): Reply {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : null;
  };
  fake.publicRequests.push({
    host: new URL(req.origin).host,
    path: req.path,
    authorization: header('authorization'),
    proxyAuthorization: header('proxy-authorization'),
  });
  return { status: 200, headers: { 'access-control-allow-origin': '*' }, body: { public: true, path: req.path } };
}

/**
 * A page of the app for browsers: its own text, and, when `?second=URL` names one, what a fetch from another origin
 * returned (the proxy must send that origin no token).
 */
function page(email: string, second: string | null): Reply {
  const script = second
    ? `<script>fetch(${JSON.stringify(second)}).then((r) => r.json()).then((d) => { document.getElementById('second').textContent = 'Second origin answered: ' + d.path; }).catch((e) => { document.getElementById('second').textContent = 'Second origin failed: ' + e; });</script>`
    : '';
  return {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<!doctype html><html><head><title>App behind IAP</title></head><body style="font: 32px sans-serif"><h1 id="hello">Hello through IAP</h1><p id="who">Signed in as ${email}</p><p id="second">Second origin pending</p>${script}</body></html>`,
  };
}

/** The app behind IAP: /app/status/NNN answers NNN, /app/redirect sends elsewhere, /app/page is HTML, anything else 200. */
function app(req: Req, email: string, ownAuthorization: string | null): Reply {
  const headers = { 'x-goog-authenticated-user-email': `accounts.google.com:${email}` };
  if (req.path === '/app/page') return page(email, req.query.get('second'));
  const status = /^\/app\/status\/([1-5]\d\d)$/.exec(req.path)?.[1];
  if (status) return { status: Number(status), headers, body: `the app answered ${status}` };
  if (req.path === '/app/redirect')
    return { status: 302, headers: { ...headers, location: 'https://login.example.com/start?next=/app' }, body: '' };
  return { status: 200, headers, body: { ok: true, email, path: req.path, method: req.method, appAuthorization: ownAuthorization } };
}

function bearer(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return /^Bearer\s+(\S+)$/i.exec(value ?? '')?.[1];
}
