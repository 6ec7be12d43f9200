import type { CredentialSource } from '../config.ts';
import type { Env } from '../env.ts';

/**
 * Set in every Cloud Run container (service, job), whose metadata server honours `?scopes=`. Not Kubernetes': a GKE
 * pod without Workload Identity reaches the node's Compute Engine server, which ignores them.
 */
const SCOPING_PLATFORMS = ['K_SERVICE', 'CLOUD_RUN_JOB'] as const;

/**
 * Why the caller cannot mint an access token with IAP's scopes (openid, email), as a clause for an error; undefined
 * when it can, or may (a refresh token's grant says at mint time whether the sign-in granted them). A key asks for
 * them in its grant and a service account gets them from IAM; only a metadata server is known to fail: a Compute Engine
 * VM's ignores the scopes asked for and gives the VM's access scopes. Its platform is told by the environment, as no
 * request is made before the inputs are read; a metadata server named on purpose (GCE_METADATA_HOST) is believed.
 * token_type access_token, auto's fallback and the doctor all decide by this.
 */
export function cannotMintAccessToken(source: CredentialSource, serviceAccount: string | undefined, env: Env): string | undefined {
  if (serviceAccount !== undefined || source.kind !== 'metadata') return undefined;
  if (env['GCE_METADATA_HOST']?.trim() || SCOPING_PLATFORMS.some((name) => env[name])) return undefined;
  return `${source.origin} is, by this machine's environment (no Cloud Run variables), a Compute Engine VM's, which ignores the scopes asked for and gives the VM's own access scopes, so IAP would not take its access token (on GKE with Workload Identity, whose server honours them, set GCE_METADATA_HOST=metadata.google.internal to say so)`;
}
