import type { Config } from '../config.ts';
import type { Credential } from '../credentials/index.ts';
import { ActionError } from '../errors.ts';
import { checkIdToken, type MintedToken } from './check.ts';

/**
 * A Google-signed ID token by the credential's own shortest path: a key's JWT-bearer grant, a VM's metadata server,
 * a refresh grant (one request each), or `generateIdToken` when the credential impersonates a service account.
 */
export async function mintIdToken(config: Config, credential: Credential, now: () => number = Date.now): Promise<MintedToken> {
  const { audience, includeEmail } = config;
  if (!credential.idToken) {
    // readConfig requires service_account for every source that cannot mint its own ID token.
    throw new ActionError(`This credential cannot mint an ID token itself: set ${config.nameOf('service_account')}.`);
  }
  const token = await credential.idToken(audience, includeEmail);
  return checkIdToken(token, { audience, requireEmail: includeEmail, principal: credential.principal, now: now() });
}
