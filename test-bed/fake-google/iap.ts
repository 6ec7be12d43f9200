import { parse, verify } from './jwt.ts';
import { GOOGLE_ISSUER, type FakeGoogle, type IapApp, type Reply, type Req, text } from './server.ts';

const IAP = { 'x-goog-iap-generated-response': 'true' };

/** One of the fake's apps behind IAP: where it is served, its state, and which kind of OAuth client IAP uses for it. */
export interface IapSite {
  /** The path the app is served at, and under. */
  readonly prefix: string;
  readonly app: IapApp;
  /**
   * Google's managed OAuth client: a browser signs in with it, but IAP refuses a programmatic ID token for it, so
   * only ID tokens for allowlisted clients (and signed JWTs) pass. A custom client's own ID tokens pass as well.
   */
  readonly managedClient: boolean;
}

/** /app: IAP on a load balancer's backend service, with the project's own (custom) OAuth client. */
export function appSite(fake: FakeGoogle): IapSite {
  return { prefix: '/app', app: fake.iap, managedClient: false };
}

/** /run: IAP directly on a Cloud Run service, with Google's managed OAuth client. */
export function runSite(fake: FakeGoogle): IapSite {
  return { prefix: '/run', app: fake.runIap, managedClient: true };
}

export function iapSites(fake: FakeGoogle): readonly IapSite[] {
  return [appSite(fake), runSite(fake)];
}

/**
 * An app behind IAP. IAP checks the bearer token (Proxy-Authorization first, else Authorization) and answers itself,
 * marked by X-Goog-IAP-Generated-Response, when it refuses; what passes reaches the app, or for the app on Cloud Run,
 * first Cloud Run, which lets IAP in only when IAP's service agent may invoke the service.
 */
export function handleIapApp(fake: FakeGoogle, req: Req): Reply {
  const onCloudRun = req.path === '/run' || req.path.startsWith('/run/');
  const site = onCloudRun ? runSite(fake) : appSite(fake);
  const passed = iapGate(fake, site, req);
  if ('status' in passed) return passed;
  if (onCloudRun && !fake.runIap.invokerGranted) return cloudRunForbidden(req.path);
  fake.appRequests.push({ path: req.path, method: req.method, authorization: passed.ownAuthorization });
  return app(req, site.prefix, passed.email, passed.ownAuthorization);
}

/**
 * Cloud Run's own 403, as it answers a caller that may not invoke the service: IAP's service agent without
 * roles/run.invoker, or anyone on a run.app URL that is not open. No IAP header: IAP did not write it.
 */
export function cloudRunForbidden(path: string): Reply {
  return {
    status: 403,
    headers: { 'content-type': 'text/html; charset=UTF-8' },
    body:
      '<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n<title>403 Forbidden</title>\n</head>\n' +
      '<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Forbidden</h1>\n' +
      `<h2>Your client does not have permission to get URL <code>${escapeHtml(path)}</code> from this server.</h2>\n<h2></h2>\n</body></html>\n`,
  };
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
export function iapGate(fake: FakeGoogle, site: IapSite, req: Pick<Req, 'origin' | 'path' | 'headers'>): Reply | Passed {
  // IAP takes a token from Proxy-Authorization first; then the request's own Authorization goes on to the app.
  const proxyToken = bearer(req.headers['proxy-authorization']);
  const token = proxyToken ?? bearer(req.headers['authorization']);
  if (!token) {
    const signIn = new URL('https://accounts.google.com/o/oauth2/v2/auth');
    // Even on Google's managed client, the browser's sign-in names it: that is how a caller learns which client IAP uses.
    signIn.searchParams.set('client_id', site.app.clientId);
    signIn.searchParams.set('response_type', 'code');
    signIn.searchParams.set('scope', 'openid email');
    signIn.searchParams.set('redirect_uri', `${fake.url}/_gcp_gatekeeper/authenticate`);
    return { status: 302, headers: { ...IAP, location: signIn.toString() }, body: 'Invalid IAP credentials: empty token' };
  }
  const refuse = (message: string): Reply => ({ status: 401, headers: IAP, body: `Invalid IAP credentials: ${message}` });
  // IAP's words for an expired token, as long test suites meet them (kubeflow/pipelines#4321).
  const expired = (): Reply => ({ status: 401, headers: IAP, body: 'OpenID Connect token expired: JWT has expired' });
  const jwt = parse(token);
  if (!jwt) {
    const passed = site.app.acceptsAccessTokens ? accessTokenGate(fake, token, refuse) : refuse('Unable to parse JWT');
    return 'status' in passed ? passed : accessorGate(fake, site, passed.email, proxyToken ? req : undefined);
  }
  const exp = jwt.claims['exp'];
  let email: unknown;
  if (jwt.claims['iss'] === GOOGLE_ISSUER) {
    // A Google-signed ID token: for the app's OAuth client (unless Google manages it) or an allowlisted one, with an email claim.
    if (!verify(jwt, fake.googleKey.publicKey)) return refuse('JWT signature is invalid');
    const audiences = site.managedClient ? site.app.programmaticClients : [site.app.clientId, ...site.app.programmaticClients];
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
  return accessorGate(fake, site, email, proxyToken ? req : undefined);
}

/** The scopes an access token needs at IAP; a sign-in asks for `email`, which Google grants as its full name. */
const OPENID = 'openid';
const EMAIL_SCOPES = ['email', 'https://www.googleapis.com/auth/userinfo.email'];

/**
 * An OAuth access token where the app takes them: one Google issued, unexpired, for a user or a service account, with
 * the openid and email scopes. Google's reference gives no words for these refusals (only "Unable to parse JWT", from
 * apps that take no access tokens); the fake's say what is wrong in IAP's style, and name the scopes when they lack.
 */
function accessTokenGate(fake: FakeGoogle, token: string, refuse: (message: string) => Reply): Reply | { email: string } {
  const entry = fake.accessTokens.get(token);
  if (!entry || entry.identity.kind === 'federated') return refuse('Unable to parse JWT');
  if (entry.expiresAt <= fake.now()) return refuse('Access token has expired');
  const scopes = entry.identity.scopes ?? ['https://www.googleapis.com/auth/cloud-platform'];
  if (!scopes.includes(OPENID) || !scopes.some((scope) => EMAIL_SCOPES.includes(scope))) {
    return refuse('Access token lacks the required openid and email scopes');
  }
  return { email: entry.identity.email };
}

/** Who may pass: roles/iap.httpsResourceAccessor, once granted and propagated; else IAP's 403 page. */
function accessorGate(fake: FakeGoogle, site: IapSite, email: string, proxied: Pick<Req, 'headers'> | undefined): Reply | Passed {
  const member = email.endsWith('.gserviceaccount.com') ? `serviceAccount:${email}` : `user:${email}`;
  const since = site.app.accessors.get(member);
  if (since === undefined || since > fake.now()) {
    return {
      status: 403,
      headers: { ...IAP, 'content-type': 'text/html' },
      body: "<html><head><title>Error 403 (Forbidden)</title></head><body>You don't have access. Please contact your administrator.</body></html>",
    };
  }
  const ownAuthorization = proxied ? String(proxied.headers['authorization'] ?? '') || null : null;
  return { email, ownAuthorization };
}

/**
 * Another origin beside the app, with no IAP in front (a CDN, an analytics host): it records the credentials it was
 * sent, which must be none, and allows any page to fetch from it.
 */
export function handlePublic(fake: FakeGoogle, req: Req): Reply {
  fake.publicRequests.push({
    host: new URL(req.origin).host,
    path: req.path,
    authorization: headerValue(req, 'authorization'),
    proxyAuthorization: headerValue(req, 'proxy-authorization'),
  });
  return { status: 200, headers: { 'access-control-allow-origin': '*' }, body: { public: true, path: req.path } };
}

/**
 * The Cloud Run service's own run.app URL (/direct), which a load balancer with IAP does not cover: when it is open
 * (allUsers may invoke, ingress all) it answers anyone, bypassing IAP, else Cloud Run refuses. Either way it records
 * the credentials it was sent, so that a test sees a token that went where IAP was not.
 */
export function handleDirect(fake: FakeGoogle, req: Req): Reply {
  fake.directRequests.push({
    host: new URL(req.origin).host,
    path: req.path,
    authorization: headerValue(req, 'authorization'),
    proxyAuthorization: headerValue(req, 'proxy-authorization'),
  });
  if (!fake.direct.open) return cloudRunForbidden(req.path);
  return { status: 200, body: { ok: true, direct: true, path: req.path } };
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

/**
 * An app behind IAP, served under `prefix` (/app or /run): PREFIX/status/NNN answers NNN, PREFIX/redirect sends
 * elsewhere, PREFIX/page is HTML, anything else 200.
 */
function app(req: Req, prefix: string, email: string, ownAuthorization: string | null): Reply {
  const headers = { 'x-goog-authenticated-user-email': `accounts.google.com:${email}` };
  const sub = req.path.slice(prefix.length);
  if (sub === '/page') return page(email, req.query.get('second'));
  const status = /^\/status\/([1-5]\d\d)$/.exec(sub)?.[1];
  if (status) return { status: Number(status), headers, body: `the app answered ${status}` };
  if (sub === '/redirect')
    return { status: 302, headers: { ...headers, location: `https://login.example.com/start?next=${prefix}` }, body: '' };
  return { status: 200, headers, body: { ok: true, email, path: req.path, method: req.method, appAuthorization: ownAuthorization } };
}

function headerValue(req: Req, name: string): string | null {
  const value = req.headers[name];
  return typeof value === 'string' ? value : null;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function bearer(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return /^Bearer\s+(\S+)$/i.exec(value ?? '')?.[1];
}
