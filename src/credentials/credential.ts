import { ActionError } from '../errors.ts';
import { registerSecret } from '../secrets.ts';

/**
 * What every credential source turns into: who it is, how to get a cloud-platform access token, and, where the
 * source can do it in one request, how to get an ID token itself.
 */
export interface Credential {
  /** The email the source itself acts as, when it is a service account (or a user) and known. */
  readonly principal: string | undefined;
  /** The IAM member that must hold roles, as `gcloud … --member` wants it: for remedies. */
  readonly member: string;
  /** True for identities from Workload Identity Federation, which IAM grants roles through workloadIdentityUser. */
  readonly federated: boolean;
  /** A `cloud-platform` access token; fetched once, then reused. */
  accessToken(): Promise<string>;
  /** An ID token for `audience` minted by the source itself, where it can (a key: the JWT-bearer grant). */
  readonly idToken?: (audience: string) => Promise<string>;
  /**
   * Claims signed as `principal` by the shortest route the source has (a key: locally, no request). Sources without
   * it sign through IAM signJwt with their access token.
   */
  readonly signJwt?: (claims: Record<string, unknown>) => Promise<string>;
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** Runs `fetch` once and hands every caller the same promise: a credential never asks twice. */
export function once<T>(fetch: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= fetch());
}

/** Reads a token field from an answer and masks it before anyone can print it. */
export function secretField(answer: Record<string, unknown>, name: string, from: string): string {
  const value = answer[name];
  if (typeof value !== 'string' || !value) {
    throw new ActionError(`${from} answered without ${name} (fields: ${Object.keys(answer).join(', ') || 'none'}).`);
  }
  registerSecret(value);
  return value;
}
