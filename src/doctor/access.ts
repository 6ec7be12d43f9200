import type { Config } from '../config.ts';
import { ApiError, explain } from '../errors.ts';
import { IapAdmin, type IamBinding, type IapSettings } from '../google/iap-admin.ts';
import { ACCESSOR, memberOf } from '../iap/grants.ts';
import type { Check } from './report.ts';
import type { DoctorOptions } from './run.ts';
import type { IapResource } from './resource.ts';

// What the doctor reads of IAP's own set-up, where the caller may: the resource's settings (which OAuth clients) and
// its IAM policy (who holds the accessor role).

export async function readSettings(
  { config, http }: DoctorOptions,
  resource: IapResource,
  accessToken: unknown,
): Promise<{ value: IapSettings | undefined; checks: Check[] }> {
  const skipped = unreadable(resource, accessToken, 'iap.webServices.getSettings', config);
  if (skipped || !resource.name || typeof accessToken !== 'string') return { value: undefined, checks: [skipped ?? notRead] };
  try {
    const value = await new IapAdmin(http, config.endpoints.iap).settings(accessToken, resource.name);
    const client = value.clientId
      ? `IAP uses a custom OAuth client, ${value.clientId}: ID tokens for it are accepted.`
      : "IAP uses Google's managed OAuth client: it accepts no programmatic ID token for it, only for clients on programmaticClients (or a signed JWT).";
    const allowed = value.programmaticClients.length
      ? `programmaticClients: ${value.programmaticClients.join(', ')}.`
      : 'programmaticClients: none.';
    return {
      value,
      checks: [
        { status: 'info', text: client },
        { status: 'info', text: allowed },
      ],
    };
  } catch (error) {
    return { value: undefined, checks: [apiSkip('Settings', error, 'iap.webServices.getSettings', resource.name)] };
  }
}

export async function readPolicy(
  { config, http }: DoctorOptions,
  resource: IapResource,
  accessToken: unknown,
  principal: string | undefined,
): Promise<{ missing: boolean; checks: Check[] }> {
  const skipped = unreadable(resource, accessToken, 'iap.webServices.getIamPolicy', config);
  if (skipped || !resource.name || typeof accessToken !== 'string') return { missing: false, checks: skipped ? [skipped] : [] };
  let bindings: IamBinding[];
  try {
    bindings = await new IapAdmin(http, config.endpoints.iap).iamPolicy(accessToken, resource.name);
  } catch (error) {
    return { missing: false, checks: [apiSkip('IAM policy', error, 'iap.webServices.getIamPolicy', resource.name)] };
  }
  return policyFor(bindings, principal);
}

/** What the IAP policy says of the principal: holds the accessor role by name, under a condition, maybe through a group, or not. */
export function policyFor(bindings: readonly IamBinding[], principal: string | undefined): { missing: boolean; checks: Check[] } {
  const accessors = bindings.filter((binding) => binding.role === ACCESSOR);
  const members = accessors.flatMap((binding) => binding.members);
  const listed = `${ACCESSOR} holders: ${members.length ? members.join(', ') : 'none'}.`;
  // A binding with a condition (an access level, a time window) grants only when it holds, which the doctor cannot see.
  const conditional = new Set(accessors.filter((binding) => binding.conditional).flatMap((binding) => binding.members));
  if (!principal) return { missing: false, checks: [{ status: 'info', text: listed }] };
  const member = memberOf(principal);
  if (conditional.has(member) && !accessors.some((binding) => !binding.conditional && binding.members.includes(member))) {
    return {
      missing: false,
      checks: [{ status: 'info', text: `${member} holds ${ACCESSOR} under a condition, which IAP checks on each request. ${listed}` }],
    };
  }
  if (members.includes(member)) return { missing: false, checks: [{ status: 'ok', text: `${member} holds ${ACCESSOR}. ${listed}` }] };
  const indirect = members.filter((name) => /^(group|domain|principalSet|principal|allAuthenticatedUsers|allUsers)\b/.test(name));
  if (indirect.length) {
    return {
      missing: false,
      checks: [
        { status: 'info', text: `${member} is not granted ${ACCESSOR} by name; it may hold it through ${indirect.join(', ')}. ${listed}` },
      ],
    };
  }
  return { missing: true, checks: [{ status: 'problem', text: `${member} does not hold ${ACCESSOR} on this resource. ${listed}` }] };
}

export const NOT_SENT =
  'No token was minted or sent: IAP does not answer for this URL, and a token goes only where IAP does (whoever serves it could replay the token).';

export const notRead: Check = { status: 'skipped', text: 'Not read.' };

/** Why a layer-3 read cannot be made: no resource name, or no access token. */
export function unreadable(resource: IapResource, accessToken: unknown, permission: string, config: Config): Check | undefined {
  if (!resource.name) {
    return {
      status: 'skipped',
      text: `Skipped ${permission === 'iap.webServices.getSettings' ? 'settings' : 'IAM policy'}: the IAP resource is not known from the URL; name it with ${config.nameOf('iap_resource')} (projects/PROJECT_NUMBER/iap_web/…) to read it.`,
    };
  }
  if (typeof accessToken !== 'string') {
    const why = accessToken === undefined ? 'no credential to read it with' : explain(accessToken).split('\n')[0];
    return { status: 'skipped', text: `Skipped (needs ${permission}): ${why}` };
  }
  return undefined;
}

export function apiSkip(what: string, error: unknown, permission: string, name: string): Check {
  if (error instanceof ApiError && (error.failure.reason === 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' || /scope/i.test(error.failure.message))) {
    return {
      status: 'skipped',
      text: `${what} not readable: the credential's access token lacks the cloud-platform scope (a refresh token from iap-token login needs --cloud-platform; a VM, the cloud-platform access scope).`,
    };
  }
  if (error instanceof ApiError && (error.failure.status === 403 || error.failure.status === 401)) {
    return {
      status: 'skipped',
      text: `${what} not readable: it needs ${error.failure.permission ?? permission} on ${name} (HTTP ${error.failure.status}).`,
    };
  }
  return { status: 'skipped', text: `${what} not readable: ${explain(error).split('\n')[0]}` };
}
