import { createHash } from 'node:crypto';
import { permissionDenied, scopeInsufficient, unauthenticated } from './iam.ts';
import { iapSites, type IapSite } from './iap.ts';
import { apiError, parseBody, type FakeGoogle, type Identity, type Reply, type Req } from './server.ts';

/**
 * IAP's admin API, the read-only part a doctor uses (base `{iap}/iap/v1`):
 *   GET  …/{name}:iapSettings      → the app's settings: its OAuth client (unless Google manages it) and allowlist
 *   POST …/{resource}:getIamPolicy → who holds roles/iap.httpsResourceAccessor
 * Names hold slashes (projects/N/iap_web/compute/services/ID). Callers are checked as IAM Credentials checks them.
 */

// One greedy run up to the last colon, anchored at both ends: linear, whatever a path holds.
const PATH = /^\/iap\/v1\/(projects\/.+):(iapSettings|getIamPolicy)$/;

const ACCESSOR = 'roles/iap.httpsResourceAccessor';

const METHODS = {
  iapSettings: { http: 'GET', permission: 'iap.webServices.getSettings' },
  getIamPolicy: { http: 'POST', permission: 'iap.webServices.getIamPolicy' },
} as const;

export function handleIapAdmin(fake: FakeGoogle, req: Req): Reply {
  const match = PATH.exec(req.path);
  if (!match) return apiError(404, 'NOT_FOUND', `Method not found: ${req.path}`);
  const [, name = '', method = ''] = match;
  const spec = METHODS[method as keyof typeof METHODS];
  if (req.method !== spec.http) return apiError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed.');
  const caller = fake.identify(req.headers['authorization']);
  if (!caller) return unauthenticated();
  if (method === 'getIamPolicy') {
    const invalid = checkPolicyRequest(req);
    if (invalid) return invalid;
  }
  const unscoped = scopeInsufficient(caller);
  if (unscoped) return unscoped;
  // Permission first, existence second: an unknown resource looks forbidden to a caller who may not see it.
  if (!permitted(fake, caller, name, spec.permission)) return permissionDenied(spec.permission, name);
  const site = iapSites(fake).find((s) => s.app.resource === name);
  if (!site) return apiError(404, 'NOT_FOUND', 'Requested entity was not found.');
  return method === 'iapSettings' ? settings(site) : policy(fake, site);
}

/**
 * The settings as Google shows them: a custom OAuth client appears as clientId (and a hash of its secret); Google's
 * managed client does not appear at all, which is how a caller tells the two apart. Empty lists are left out.
 */
function settings(site: IapSite): Reply {
  const { app } = site;
  const oauthSettings = {
    ...(site.managedClient
      ? {}
      : { clientId: app.clientId, clientSecretSha256: createHash('sha256').update(`GOCSPX-secret-of-${app.clientId}`).digest('hex') }),
    ...(app.programmaticClients.length > 0 ? { programmaticClients: [...app.programmaticClients] } : {}),
  };
  return { status: 200, body: { name: app.resource, accessSettings: { oauthSettings }, applicationSettings: {} } };
}

/** The resource's policy: the accessors whose grant has propagated by now (IAP lets no one else through either). */
function policy(fake: FakeGoogle, site: IapSite): Reply {
  const members = [...site.app.accessors].filter(([, since]) => since <= fake.now()).map(([member]) => member);
  return {
    status: 200,
    body: { version: 1, etag: 'BwYfakeEtag=', ...(members.length > 0 ? { bindings: [{ role: ACCESSOR, members }] } : {}) },
  };
}

/**
 * getIamPolicy's body: `{}` or `{options: {requestedPolicyVersion}}`; none at all counts as `{}`. Google refuses fields
 * the request does not have, so a misspelt one fails here, as in IAM Credentials.
 */
function checkPolicyRequest(req: Req): Reply | undefined {
  if (req.body.trim() === '') return undefined;
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Content-Type must be application/json.');
  }
  const body = parseBody(req);
  if (!body) return apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
  const unknown = Object.keys(body).find((key) => key !== 'options');
  if (unknown) return apiError(400, 'INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`);
  const options: unknown = body['options'];
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    return apiError(400, 'INVALID_ARGUMENT', `Invalid value at 'options': ${JSON.stringify(options)}`);
  }
  const unknownOption = Object.keys(options).find((key) => key !== 'requestedPolicyVersion');
  if (unknownOption) {
    return apiError(
      400,
      'INVALID_ARGUMENT',
      `Invalid JSON payload received. Unknown name "${unknownOption}" at 'options': Cannot find field.`,
    );
  }
  const version: unknown = (options as Record<string, unknown>)['requestedPolicyVersion'];
  if (version !== undefined && version !== 0 && version !== 1 && version !== 3) {
    return apiError(400, 'INVALID_ARGUMENT', `Invalid requested policy version ${JSON.stringify(version)}: only 0, 1 and 3 exist.`);
  }
  return undefined;
}

/**
 * Whether the caller holds `permission` on `name` or above it: IAP's policies inherit from the project, from iap_web
 * and from the resource type (projects/N, projects/N/iap_web, projects/N/iap_web/compute) down to the resource.
 */
function permitted(fake: FakeGoogle, caller: Identity, name: string, permission: string): boolean {
  const parts = name.split('/');
  const holders = [2, 3, 4].filter((n) => n < parts.length).map((n) => parts.slice(0, n).join('/'));
  return [...holders, name].some((resource) => fake.hasPermission(resource, caller, permission));
}
