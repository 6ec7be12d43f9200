import { IAP_ACCESS_SCOPES } from '../google/answer.ts';
import type { CallerIdentity, IamCredentials, Impersonation } from '../google/iam-credentials.ts';
import { renewing, type Credential } from './credential.ts';

/**
 * The one way to act as a service account: `caller` (any credential) reaches `target.serviceAccount` through IAM
 * Credentials, along `target.delegates`. Used for the `service_account` input, for `impersonated_service_account` and
 * `external_account` files that name an account, and for a metadata server signing as its own account.
 */
export function impersonate(
  caller: Credential,
  target: Impersonation,
  iam: IamCredentials,
  now: () => number = Date.now,
): Credential & Required<Pick<Credential, 'idToken' | 'signJwt' | 'iapAccessToken'>> {
  const self: CallerIdentity = {
    principal: target.serviceAccount,
    member: `serviceAccount:${target.serviceAccount}`,
    federated: false,
  };
  const accessToken = renewing(async () => iam.generateAccessToken(caller, await caller.accessToken(), target), now);
  return {
    ...self,
    accessToken,
    idToken: async (audience, includeEmail) => iam.generateIdToken(caller, await caller.accessToken(), target, audience, includeEmail),
    iapAccessToken: async () => iam.generateAccessToken(caller, await caller.accessToken(), target, IAP_ACCESS_SCOPES),
    // signJwt refuses federated tokens (ACCESS_TOKEN_TYPE_UNSUPPORTED): such a caller first becomes the account (its
    // own access token), which then signs as itself; that needs the token creator role on itself, as the remedy says.
    signJwt: caller.federated
      ? async (claims) => iam.signJwt(self, await accessToken(), { serviceAccount: target.serviceAccount, delegates: [] }, claims)
      : async (claims) => iam.signJwt(caller, await caller.accessToken(), target, claims),
  };
}
