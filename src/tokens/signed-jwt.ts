import type { Config } from '../config.ts';
import type { Credential } from '../credentials/credential.ts';
import { ActionError } from '../errors.ts';
import type { IamCredentials } from '../iam.ts';
import { checkSignedJwt, type MintedToken } from './check.ts';

/**
 * A JWT signed by a service account for the app's URL, which IAP accepts without any OAuth client: `iss` = `sub` = the
 * account, `aud` = the URL. A key without impersonation signs locally (no request); anything else signs through IAM
 * signJwt. A federated token cannot call signJwt, so it first becomes the account's own access token.
 */
export async function mintSignedJwt(
  config: Config,
  credential: Credential,
  iam: IamCredentials,
  now: () => number = Date.now,
): Promise<MintedToken> {
  const { audience, serviceAccount, delegates, lifetimeSeconds } = config;
  const claimsFor = (email: string) => {
    const iat = Math.floor(now() / 1000);
    return { iss: email, sub: email, aud: audience, iat, exp: iat + lifetimeSeconds };
  };

  let signer: string;
  let token: string;
  if (!serviceAccount && credential.signJwt && credential.principal) {
    signer = credential.principal;
    token = await credential.signJwt(claimsFor(signer));
  } else {
    if (!serviceAccount) await credential.accessToken(); // a metadata server learns its own email here
    const target = serviceAccount ?? credential.principal;
    if (!target) {
      throw new ActionError('No service account to sign the JWT as: set service_account.');
    }
    signer = target;
    let caller = credential;
    let chain = delegates;
    if (credential.federated) {
      // signJwt refuses federated tokens (ACCESS_TOKEN_TYPE_UNSUPPORTED): act as the account itself first.
      const ownToken = iam.generateAccessToken(credential, { serviceAccount: target, delegates });
      caller = { principal: target, member: `serviceAccount:${target}`, federated: false, accessToken: () => ownToken };
      chain = [];
    }
    token = await iam.signJwt(caller, { serviceAccount: target, delegates: chain }, claimsFor(target));
  }
  return checkSignedJwt(token, { audience, signer, lifetimeSeconds, now: now() });
}
