import type { Config } from '../config.ts';
import { impersonate, type Credential } from '../credentials/index.ts';
import { ActionError } from '../errors.ts';
import type { IamCredentials } from '../google/iam-credentials.ts';
import { checkSignedJwt, type MintedToken } from './check.ts';

/**
 * A JWT signed by a service account for the app's URL, which IAP accepts without any OAuth client: `iss` = `sub` = the
 * account, `aud` = the URL. A key signs locally (no request), an impersonated account through IAM signJwt; a
 * credential that cannot sign (a VM's metadata server) signs as its own account through IAM.
 */
export async function mintSignedJwt(
  config: Config,
  credential: Credential,
  iam: IamCredentials,
  now: () => number = Date.now,
): Promise<MintedToken> {
  const { audience, lifetimeSeconds } = config;
  const signer = await signerOf(credential, config, iam, now);
  const iat = Math.floor(now() / 1000);
  const token = await signer.sign({ iss: signer.email, sub: signer.email, aud: audience, iat, exp: iat + lifetimeSeconds });
  return checkSignedJwt(token, { audience, signer: signer.email, lifetimeSeconds, now: now() });
}

async function signerOf(
  credential: Credential,
  config: Config,
  iam: IamCredentials,
  now: () => number,
): Promise<{ email: string; sign: (claims: Record<string, unknown>) => Promise<string> }> {
  if (credential.signJwt && credential.principal) return { email: credential.principal, sign: credential.signJwt };
  await credential.accessToken(); // a metadata server learns its own email here
  const email = credential.principal;
  if (!email) throw new ActionError(`No service account to sign the JWT as: set ${config.nameOf('service_account')}.`);
  return { email, sign: impersonate(credential, { serviceAccount: email, delegates: [] }, iam, now).signJwt };
}
