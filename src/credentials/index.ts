import type { Config } from '../config.ts';
import type { Env } from '../endpoints.ts';
import type { Http } from '../http.ts';
import type { Credential } from './credential.ts';
import { serviceAccountKeyCredential } from './service-account-key.ts';
import { workloadIdentityCredential } from './workload-identity.ts';

/** The credential for the configured source, and a line for the log that says who it is (never a secret). */
export function createCredential(config: Config, http: Http, env: Env): { credential: Credential; description: string } {
  const { source, endpoints } = config;
  switch (source.kind) {
    case 'service_account_key':
      return {
        credential: serviceAccountKeyCredential(source, endpoints, http),
        description: `service-account key for ${source.key.clientEmail}`,
      };
    case 'workload_identity':
      return {
        credential: workloadIdentityCredential(source, endpoints, http, env),
        description: `Workload Identity Federation through ${source.provider}`,
      };
  }
}
