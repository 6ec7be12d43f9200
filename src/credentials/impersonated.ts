import type { ImpersonatedSource } from '../config.ts';
import type { IamCredentials } from '../iam.ts';
import { once, type Credential } from './credential.ts';

/**
 * An `impersonated_service_account` credentials file (gcloud's --impersonate-service-account ADC): source credentials
 * acting as a service account through IAM. Its ID token comes from `generateIdToken` on that account directly.
 */
export function impersonatedCredential(source: ImpersonatedSource, inner: Credential, iam: IamCredentials): Credential {
  const target = { serviceAccount: source.serviceAccount, delegates: source.delegates };
  return {
    principal: source.serviceAccount,
    member: `serviceAccount:${source.serviceAccount}`,
    federated: false,
    accessToken: once(() => iam.generateAccessToken(inner, target)),
    idToken: (audience) => iam.generateIdToken(inner, target, audience, true),
    signJwt: (claims) => iam.signJwt(inner, target, claims),
  };
}
