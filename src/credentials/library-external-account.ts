// Bundled apart (dist/google-auth.cjs) and loaded only for external accounts whose subject token comes from AWS, an
// executable or a certificate: google-auth-library implements those exchanges (AWS request signing, the executable
// protocol, mTLS), which this action would otherwise hand-write. Every other path never reads this file.
import { AwsClient, IdentityPoolClient, PluggableAuthClient, type BaseExternalAccountClient } from 'google-auth-library';

type Kind = 'aws' | 'executable' | 'certificate';

/**
 * The federated access token STS issues for the file's subject token, without impersonation: the caller does that.
 * Each source's own client, not `ExternalAccountClient.fromJSON`, which would print a warning about unvalidated
 * URLs: the action has already checked the file's token_url.
 */
export async function libraryFederatedToken(kind: Kind, file: Readonly<Record<string, unknown>>): Promise<string> {
  const { service_account_impersonation_url: _impersonation, ...federated } = file;
  const options = federated as never;
  const client: BaseExternalAccountClient =
    kind === 'aws' ? new AwsClient(options) : kind === 'executable' ? new PluggableAuthClient(options) : new IdentityPoolClient(options);
  const { token } = await client.getAccessToken();
  if (!token) throw new Error('google-auth-library returned no access token');
  return token;
}
