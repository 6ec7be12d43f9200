import type { MetadataSource } from '../config.ts';
import type { Http } from '../http/client.ts';
import { IAP_ACCESS_SCOPES } from '../google/answer.ts';
import { MetadataClient } from '../google/metadata.ts';
import { renewing, type Credential } from './credential.ts';

/**
 * The metadata server of a runner on GCE, GKE or Cloud Run: ID tokens with the email claim in one request, and an
 * access token (with the account's email, fetched alongside: impersonation errors must name the account).
 */
export function metadataCredential(source: MetadataSource, http: Http, now: () => number = Date.now): Credential {
  const metadata = new MetadataClient(http, source, now);
  let email: string | undefined;
  /** An access token (the VM's scopes, or those asked for), and the account's email alongside, once. */
  const withEmail = async (scopes?: readonly string[]) => {
    const [token, address] = await Promise.all([metadata.accessToken(scopes), email ?? metadata.email()]);
    email = address;
    return token;
  };
  return {
    get principal() {
      return email;
    },
    get member() {
      return `serviceAccount:${email ?? 'THE_RUNNER_VM_SERVICE_ACCOUNT'}`;
    },
    federated: false,
    accessToken: renewing(() => withEmail(), now),
    idToken: (audience) => metadata.idToken(audience),
    // Only where the server honours ?scopes= (readConfig refuses a Compute Engine VM's, which ignores it).
    iapAccessToken: () => withEmail(IAP_ACCESS_SCOPES),
  };
}
