import { sign } from './jwt.ts';
import { apiError, parseBody, type FakeGoogle, type Identity, type Reply, type Req, text } from './server.ts';

const PATH = /^\/iamcredentials\/v1\/projects\/([^/]+)\/serviceAccounts\/([^/:]+):(generateIdToken|generateAccessToken|signJwt)$/;
const DELEGATE = /^projects\/-\/serviceAccounts\/([^/]+)$/;

/** `POST …/projects/-/serviceAccounts/EMAIL:generateIdToken`, with Google's permission checks along the chain. */
export function handleIamCredentials(fake: FakeGoogle, req: Req): Reply {
  const match = PATH.exec(req.path);
  if (!match) return apiError(404, 'NOT_FOUND', `Method not found: ${req.path}`);
  if (req.method !== 'POST') return apiError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed.');
  const [, project = '', email = '', method = ''] = match;
  if (project !== '-') {
    return apiError(400, 'INVALID_ARGUMENT', 'The project in the resource name must be "-"; replacing it with a project ID is invalid.');
  }
  const caller = fake.identify(req.headers['authorization']);
  if (!caller) return unauthenticated();
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Content-Type must be application/json.');
  }
  const body = parseBody(req);
  if (!body) return apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
  // Google refuses fields a method does not have, so a misspelt field in a request fails here too.
  const known: Record<string, string[]> = {
    generateIdToken: ['audience', 'includeEmail', 'delegates'],
    generateAccessToken: ['scope', 'lifetime', 'delegates'],
    signJwt: ['payload', 'delegates'],
  };
  const unknown = Object.keys(body).find((key) => !(known[method] ?? []).includes(key));
  if (unknown) return apiError(400, 'INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`);
  const delegates: string[] = [];
  for (const name of Array.isArray(body['delegates']) ? (body['delegates'] as unknown[]) : []) {
    const delegate = DELEGATE.exec(String(name))?.[1];
    if (!delegate)
      return apiError(400, 'INVALID_ARGUMENT', `Invalid delegate "${String(name)}": expected projects/-/serviceAccounts/EMAIL.`);
    delegates.push(delegate);
  }
  const unscoped = scopeInsufficient(caller);
  if (unscoped) return unscoped;
  if (method === 'generateAccessToken') return generateAccessToken(fake, caller, delegates, email, body);
  if (method === 'signJwt') return signJwt(fake, caller, delegates, email, body);
  if (method !== 'generateIdToken') return apiError(501, 'UNIMPLEMENTED', `${method} is not in this fake yet.`);
  const permission = 'iam.serviceAccounts.getOpenIdToken';
  const denied = checkChain(fake, caller, delegates, email, permission);
  if (denied) return denied;
  const audience = body['audience'];
  if (typeof audience !== 'string' || !audience) return apiError(400, 'INVALID_ARGUMENT', 'audience is required.');
  const account = fake.serviceAccounts.get(email);
  if (!account) return permissionDenied(permission);
  return { status: 200, body: { token: fake.issueIdToken(account, audience, body['includeEmail'] === true) } };
}

function signJwt(fake: FakeGoogle, caller: Identity, delegates: string[], email: string, body: Record<string, unknown>): Reply {
  if (caller.kind === 'federated') {
    return apiError(
      401,
      'UNAUTHENTICATED',
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED', domain: 'googleapis.com' }],
    );
  }
  const denied = checkChain(fake, caller, delegates, email, 'iam.serviceAccounts.signJwt');
  if (denied) return denied;
  let claims: unknown;
  try {
    claims = JSON.parse(text(body['payload']));
  } catch {
    return apiError(400, 'INVALID_ARGUMENT', 'The payload is not a valid JSON object.');
  }
  if (!claims || typeof claims !== 'object' || Array.isArray(claims))
    return apiError(400, 'INVALID_ARGUMENT', 'The payload is not a valid JSON object.');
  const exp = (claims as Record<string, unknown>)['exp'];
  if (typeof exp === 'number' && exp * 1000 > fake.now() + 12 * 3600 * 1000) {
    return apiError(400, 'INVALID_ARGUMENT', 'The exp claim must be at most 12 hours in the future.');
  }
  const account = fake.serviceAccounts.get(email);
  if (!account) return permissionDenied('iam.serviceAccounts.signJwt');
  const signedJwt = sign(claims as Record<string, unknown>, account.key);
  fake.secrets.add(signedJwt);
  return { status: 200, body: { keyId: account.key.kid, signedJwt } };
}

function generateAccessToken(fake: FakeGoogle, caller: Identity, delegates: string[], email: string, body: Record<string, unknown>): Reply {
  const denied = checkChain(fake, caller, delegates, email, 'iam.serviceAccounts.getAccessToken');
  if (denied) return denied;
  const scope = body['scope'];
  if (!Array.isArray(scope) || scope.length === 0) return apiError(400, 'INVALID_ARGUMENT', 'scope is required.');
  const lifetime = body['lifetime'];
  if (lifetime !== undefined && !/^\d+s$/.test(text(lifetime)))
    return apiError(400, 'INVALID_ARGUMENT', `Invalid lifetime: ${text(lifetime)}`);
  const seconds = lifetime === undefined ? 3600 : Number(text(lifetime).slice(0, -1));
  if (seconds > 3600) return apiError(400, 'INVALID_ARGUMENT', 'The lifetime must be at most 3600s.');
  // A test may shorten every access token's life (fake.accessTokenLifetimeS) to see renewals.
  const lives = fake.accessTokenLifetimeS < 3599 ? Math.min(seconds, fake.accessTokenLifetimeS) : seconds;
  const accessToken = fake.issueAccessToken({ kind: 'serviceAccount', email, scopes: scope.map(String) }, lives);
  return { status: 200, body: { accessToken, expireTime: new Date(fake.now() + lives * 1000).toISOString() } };
}

/**
 * Each hop needs a role on the next one: implicitDelegation toward a delegate, the method's permission toward the
 * target. A missing account is reported as a denied permission, as Google does, so as not to reveal existence.
 */
function checkChain(fake: FakeGoogle, caller: Identity, delegates: string[], target: string, permission: string): Reply | undefined {
  const chain = [...delegates, target];
  let from: Identity = caller;
  for (const [i, to] of chain.entries()) {
    const needed = i === chain.length - 1 ? permission : 'iam.serviceAccounts.implicitDelegation';
    const account = fake.serviceAccounts.get(to);
    if (!account || account.disabled || !fake.hasPermission(to, from, needed)) return permissionDenied(needed);
    from = { kind: 'serviceAccount', email: to };
  }
  return undefined;
}

/** Google's answer to a request with no valid access token (shared with IAP's admin API, which checks callers alike). */
export function unauthenticated(): Reply {
  return apiError(
    401,
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  );
}

/** A token without the cloud-platform scope reaches no Cloud API, whatever roles its user or account holds. */
export function scopeInsufficient(caller: Identity): Reply | undefined {
  const scopes = caller.kind === 'federated' ? undefined : caller.scopes;
  if (!scopes || scopes.includes('https://www.googleapis.com/auth/cloud-platform')) return undefined;
  return apiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.', [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com' },
  ]);
}

/**
 * A denied permission, worded as Google does: IAM Credentials leaves the resource out; IAP's admin API names it.
 * Either way "(or it may not exist)": a missing resource is not told apart from a forbidden one.
 */
export function permissionDenied(permission: string, resource?: string): Reply {
  const on = resource === undefined ? 'resource' : `resource '${resource}'`;
  return apiError(403, 'PERMISSION_DENIED', `Permission '${permission}' denied on ${on} (or it may not exist).`, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'IAM_PERMISSION_DENIED',
      domain: 'iam.googleapis.com',
      metadata: { permission },
    },
  ]);
}
