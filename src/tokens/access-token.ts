import type { Config } from '../config.ts';
import type { Credential } from '../credentials/index.ts';
import { ActionError } from '../errors.ts';
import { checkAccessToken, type MintedToken } from './check.ts';

/**
 * An OAuth access token with the openid and email scopes, which IAP takes where the app accepts access tokens: no
 * audience, so no OAuth client to find or allowlist. A key's JWT-bearer grant, a refresh grant whose sign-in granted
 * those scopes, a metadata server that honours `?scopes=`, or IAM generateAccessToken as `service_account`.
 */
export async function mintAccessToken(config: Config, credential: Credential, now: () => number = Date.now): Promise<MintedToken> {
  if (!credential.iapAccessToken) {
    // readConfig requires service_account for every source that cannot get one itself.
    throw new ActionError(`This credential cannot mint an access token for IAP itself: set ${config.nameOf('service_account')}.`);
  }
  const { token, expiresAt } = await credential.iapAccessToken();
  return checkAccessToken(token, { expiresAt, principal: credential.principal, now: now() });
}
