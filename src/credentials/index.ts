import type { CredentialSource } from '../config.ts';
import type { Env, Endpoints } from '../endpoints.ts';
import type { Http } from '../http.ts';
import type { IamCredentials } from '../iam.ts';
import type { Credential } from './credential.ts';
import { externalAccountCredential } from './external-account.ts';
import { impersonatedCredential } from './impersonated.ts';
import { metadataCredential } from './metadata.ts';
import { refreshTokenCredential } from './refresh-token.ts';
import { serviceAccountKeyCredential } from './service-account-key.ts';
import { workloadIdentityCredential } from './workload-identity.ts';

export interface CredentialContext {
  readonly endpoints: Endpoints;
  readonly http: Http;
  readonly iam: IamCredentials;
  readonly env: Env;
}

/** The credential for the configured source. */
export function createCredential(source: CredentialSource, context: CredentialContext): Credential {
  const { endpoints, http, iam, env } = context;
  switch (source.kind) {
    case 'service_account_key':
      return serviceAccountKeyCredential(source, endpoints, http);
    case 'workload_identity':
      return workloadIdentityCredential(source, endpoints, http, env);
    case 'metadata':
      return metadataCredential(source, http);
    case 'refresh_token':
      return refreshTokenCredential(source, endpoints, http);
    case 'external_account':
      return externalAccountCredential(source, endpoints, http, iam);
    case 'impersonated_service_account':
      return impersonatedCredential(source, createCredential(source.inner, context), iam);
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
      return `${source.origin} (no credential input is set)`;
    case 'refresh_token':
      return `OAuth refresh token (${source.origin})`;
    case 'external_account':
      return `external account through ${source.audience.replace(/^\/\/iam\.[^/]+\//, '')}${source.impersonate ? ` as ${source.impersonate}` : ''} (${source.origin})`;
    case 'impersonated_service_account':
      return `${describeSource(source.inner)}, impersonating ${source.serviceAccount} (${source.origin})`;
  }
}
