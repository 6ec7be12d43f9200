import type { Config } from '../config.ts';
import type { Credential } from '../credentials/credential.ts';
import type { IamCredentials } from '../iam.ts';
import { checkIdToken, type MintedToken } from './check.ts';

/**
 * The shortest path to a Google-signed ID token: the source's own grant when it can mint one for itself (a key: one
 * request, no IAM role), else `generateIdToken` on the service account to impersonate.
 */
export async function mintIdToken(
  config: Config,
  credential: Credential,
  iam: IamCredentials,
  now: () => number = Date.now,
): Promise<MintedToken> {
  const { audience, serviceAccount, delegates, includeEmail } = config;
  let token: string;
  if (!serviceAccount && credential.idToken) {
    token = await credential.idToken(audience);
  } else {
    // inputs.ts guarantees a service account for every source that cannot mint its own ID token.
    const target = serviceAccount ?? credential.principal ?? '';
    token = await iam.generateIdToken(credential, { serviceAccount: target, delegates }, audience, includeEmail);
  }
  return checkIdToken(token, {
    audience,
    requireEmail: includeEmail,
    principal: serviceAccount ?? credential.principal,
    now: now(),
  });
}
