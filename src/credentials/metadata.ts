import type { MetadataSource } from '../config.ts';
import { ActionError, ApiError } from '../errors.ts';
import type { Http, HttpRequest } from '../http.ts';
import { registerSecret } from '../secrets.ts';
import { once, secretField, type Credential } from './credential.ts';
import { isEmail } from './key-file.ts';

/**
 * The metadata server of a self-hosted runner on GCE, GKE or Cloud Run. Its identity endpoint returns an ID token
 * with the email claim (`format=full`) in one request. It is reached directly, never through a proxy, and it must
 * answer quickly: a runner that has none (any machine outside Google Cloud) fails within seconds.
 */
export function metadataCredential(source: MetadataSource, http: Http): Credential {
  const base = `http://${source.host}/computeMetadata/v1/instance/service-accounts/default`;
  const request = (what: string, path: string): HttpRequest => ({
    what,
    method: 'GET',
    url: `${base}/${path}`,
    headers: { 'metadata-flavor': 'Google' },
    direct: true,
    retry: { timeoutMs: 3_000, attempts: 3, budgetMs: 6_000 },
  });
  let email: string | undefined;

  const call = async <T>(fetch: () => Promise<T>): Promise<T> => {
    try {
      return await fetch();
    } catch (error) {
      if (error instanceof ApiError) error.remedy = metadataRemedy(error, source);
      throw error;
    }
  };

  return {
    get principal() {
      return email;
    },
    get member() {
      return `serviceAccount:${email ?? 'THE_RUNNER_VM_SERVICE_ACCOUNT'}`;
    },
    federated: false,
    accessToken: once(() =>
      call(async () => {
        // The email is fetched alongside, in parallel: impersonation errors must name the account that lacks a role.
        const [answer, address] = await Promise.all([
          http.json(request('Metadata server access token', 'token')),
          http.text(request('Metadata server email', 'email')),
        ]);
        // It names the account in later request paths: accept only an email.
        if (!isEmail(address.trim())) throw new ActionError('The metadata server named no service account email for this runner.');
        email = address.trim();
        return secretField(answer, 'access_token', 'The metadata server');
      }),
    ),
    idToken: (audience) =>
      call(async () => {
        const token = (
          await http.text(request('Metadata server ID token', `identity?audience=${encodeURIComponent(audience)}&format=full`))
        ).trim();
        registerSecret(token);
        if (!token) throw new ActionError('The metadata server answered with an empty ID token.');
        return token;
      }),
  };
}

const INPUTS =
  'workload_identity_provider, credentials_json, or refresh_token with oauth_client_id and oauth_client_secret (or set GOOGLE_APPLICATION_CREDENTIALS)';

function metadataRemedy(error: ApiError, source: MetadataSource): string {
  const { status } = error.failure;
  if (status === 0) {
    return `No credential input is set, so the action asked ${source.origin}, and none answered: this runner is not on Google Cloud. Give the action a credential: ${INPUTS}.`;
  }
  if (status === 404) {
    return 'Fix: this metadata server has no identity endpoint (Cloud Build, for one) or no service account is attached to the VM. Attach a service account, or give the action a credential input.';
  }
  if (status === 403) {
    return 'Fix: the metadata server refused the request; on GKE, check Workload Identity is enabled for the node pool and the Kubernetes service account is bound to a Google service account.';
  }
  return `Fix: the metadata server could not provide a token; check the runner's service account and its scopes, or give the action a credential: ${INPUTS}.`;
}
