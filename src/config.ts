import type { ServiceAccountKey } from './credentials/key-file.ts';
import type { Endpoints } from './endpoints.ts';

/** Everything the run needs, read and validated once by `readConfig` before any request or side effect. */
export interface Config {
  /** The ID token's audience: the OAuth client ID IAP accepts. */
  readonly audience: string;
  readonly source: CredentialSource;
  /** Impersonate this service account (the token is then for it). */
  readonly serviceAccount: string | undefined;
  /** The chain from the caller to `serviceAccount`, as emails. */
  readonly delegates: readonly string[];
  readonly includeEmail: boolean;
  /** Environment variable to export the token as; `undefined`: don't. */
  readonly exportVariable: string | undefined;
  readonly universe: string;
  readonly endpoints: Endpoints;
}

export type CredentialSource = ServiceAccountKeySource | WorkloadIdentitySource;

export interface ServiceAccountKeySource {
  readonly kind: 'service_account_key';
  readonly key: ServiceAccountKey;
}

export interface WorkloadIdentitySource {
  readonly kind: 'workload_identity';
  /** `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER` */
  readonly provider: string;
  readonly projectNumber: string;
  readonly pool: string;
  /** The audience of the GitHub OIDC token: what the provider's allowed audiences must contain. */
  readonly oidcAudience: string;
  /** `ACTIONS_ID_TOKEN_REQUEST_URL` and its bearer token, which the runner gives jobs with `id-token: write`. */
  readonly oidcRequestUrl: string;
  readonly oidcRequestToken: string;
}
