import type { CredentialSource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import type { Env } from '../env.ts';
import type { IamCredentials } from '../google/iam-credentials.ts';
import type { OAuthTokenEndpoint } from '../google/oauth.ts';
import type { Http } from '../http/client.ts';
import type { Credential } from './credential.ts';
import { externalAccountCredential } from './external-account.ts';
import { impersonate } from './impersonation.ts';
import { metadataCredential } from './metadata.ts';
import { refreshTokenCredential } from './refresh-token.ts';
import { serviceAccountKeyCredential } from './service-account-key.ts';
import { workloadIdentityCredential } from './workload-identity.ts';

export type { Credential } from './credential.ts';
export { impersonate } from './impersonation.ts';

/** The Google API clients (one set per run or agent) that credentials compose, and what they read. */
export interface GoogleClients {
  readonly endpoints: Endpoints;
  readonly http: Http;
  readonly oauth: OAuthTokenEndpoint;
  readonly iam: IamCredentials;
  readonly env: Env;
  readonly now: () => number;
}

/** The credential for the configured source. */
export function createCredential(source: CredentialSource, clients: GoogleClients): Credential {
  const { endpoints, http, oauth, iam, env, now } = clients;
  switch (source.kind) {
    case 'service_account_key':
      return serviceAccountKeyCredential(source, endpoints, oauth, now);
    case 'workload_identity':
      return workloadIdentityCredential(source, endpoints, http, env, now);
    case 'metadata':
      return metadataCredential(source, http, now);
    case 'refresh_token':
      return refreshTokenCredential(source, endpoints, oauth, now);
    case 'external_account':
      return externalAccountCredential(source, endpoints, http, iam, now);
    case 'impersonated_service_account':
      // gcloud's --impersonate-service-account ADC: the source credentials acting as the account, through IAM.
      return impersonate(
        createCredential(source.inner, clients),
        { serviceAccount: source.serviceAccount, delegates: source.delegates, origin: source.origin },
        iam,
        now,
      );
  }
}

/** A line for the log that says who the credential is (never a secret). */
export function describeSource(source: CredentialSource): string {
  switch (source.kind) {
    case 'service_account_key':
      return `service-account key for ${source.key.clientEmail} (${source.origin})`;
    case 'workload_identity':
      return `Workload Identity Federation through ${source.provider}`;
    case 'metadata':
      return `${source.origin} (no credential is given)`;
    case 'refresh_token':
      return `OAuth refresh token (${source.origin})`;
    case 'external_account':
      return `external account through ${source.audience.replace(/^\/\/iam\.[^/]+\//, '')}${source.impersonate ? ` as ${source.impersonate}` : ''} (${source.origin})`;
    case 'impersonated_service_account':
      return `${describeSource(source.inner)}, impersonating ${source.serviceAccount} (${source.origin})`;
  }
}
