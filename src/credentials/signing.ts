import type { CredentialSource } from '../config.ts';

/**
 * Why a caller cannot sign a JWT, or `undefined` when it can. Only a service account signs: a user's refresh token
 * only by impersonating one (`service_account`), and a key signs locally only with its private_key_id, by which IAP
 * finds the key (the JWT's kid). token_type auto and the doctor both decide by this.
 */
export function cannotSign(source: CredentialSource, serviceAccount: string | undefined): 'user' | 'no-key-id' | undefined {
  if (serviceAccount !== undefined) return undefined;
  if (source.kind === 'refresh_token') return 'user';
  if (source.kind === 'service_account_key' && !source.key.privateKeyId) return 'no-key-id';
  return undefined;
}
