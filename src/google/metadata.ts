import type { ApiFailure } from '../errors.ts';
import { ActionError } from '../errors.ts';
import { isEmail } from '../email.ts';
import type { Http, ServiceRequest } from '../http/client.ts';
import { parseJsonObject } from '../json.ts';
import { checkedToken, expiresAt, secretField, type AccessToken } from './answer.ts';
import { googleFailure } from './failure.ts';

/** Which metadata server, and what to tell the user when there is none. */
export interface MetadataServer {
  /** `metadata.google.internal`, or `GCE_METADATA_HOST` (host[:port]). */
  readonly host: string;
  /** How logs name it: "the metadata server", "the metadata server at 127.0.0.1:8080". */
  readonly origin: string;
  /** What to say when none answers, in the front door's words: which credentials the user can give instead. */
  readonly unreachable: string;
  /** The same advice as a closing clause for other failures: "or give the action a credential: …". */
  readonly otherwise: string;
}

/**
 * The metadata server of a runner on GCE, GKE or Cloud Run (plain HTTP by design, on the machine's own link). It is
 * reached directly, never through a proxy, and it must answer quickly: a runner that has none (any machine outside
 * Google Cloud) fails within seconds.
 */
export class MetadataClient {
  readonly #http: Http;
  readonly #server: MetadataServer;
  readonly #now: () => number;

  constructor(http: Http, server: MetadataServer, now: () => number = Date.now) {
    this.#http = http;
    this.#server = server;
    this.#now = now;
  }

  /**
   * An access token for the runner's default service account: with the VM's access scopes, or those asked for where
   * the server honours `?scopes=` (Cloud Run, GKE with Workload Identity; a Compute Engine VM ignores it).
   */
  async accessToken(scopes?: readonly string[]): Promise<AccessToken> {
    const path = scopes ? `token?scopes=${scopes.map(encodeURIComponent).join(',')}` : 'token';
    const answer = parseJsonObject(await this.#body('Metadata server access token', path));
    if (!answer) throw new ActionError('The metadata server answered its token request with something other than a JSON object.');
    return { token: secretField(answer, 'access_token', 'The metadata server'), expiresAt: expiresAt(answer, this.#now()) };
  }

  /** The default service account's email; it names the account in later request paths, so only an email is accepted. */
  async email(): Promise<string> {
    const address = (await this.#body('Metadata server email', 'email')).trim();
    if (!isEmail(address)) throw new ActionError('The metadata server named no service account email for this runner.');
    return address;
  }

  /** An ID token with the email claim (`format=full` adds it) for `audience`, in one request. */
  async idToken(audience: string): Promise<string> {
    const path = `identity?audience=${encodeURIComponent(audience)}&format=full`;
    const token = (await this.#body('Metadata server ID token', path)).trim();
    if (!token) throw new ActionError('The metadata server answered with an empty ID token.');
    return checkedToken(token, 'jwt', "The metadata server's ID token");
  }

  /**
   * A 2xx body from the metadata server, which marks every answer with `Metadata-Flavor: Google`: anything else
   * answering at its address (a captive portal, a proxy) is not believed, nor its body masked or quoted.
   */
  async #body(what: string, path: string): Promise<string> {
    const response = await this.#http.ok(this.#request(what, path));
    if (String(response.headers['metadata-flavor']) !== 'Google') {
      throw new ActionError(
        `${what}: the answer did not come from a metadata server (no Metadata-Flavor: Google header). ${this.#server.unreachable}`,
      );
    }
    return response.body;
  }

  #request(what: string, path: string): ServiceRequest {
    return {
      what,
      failure: googleFailure,
      method: 'GET',
      url: `http://${this.#server.host}/computeMetadata/v1/instance/service-accounts/default/${path}`,
      headers: { 'metadata-flavor': 'Google' },
      direct: true,
      retry: { timeoutMs: 3_000, attempts: 3, budgetMs: 6_000 },
      remedy: (failure) => metadataRemedy(failure, this.#server),
    };
  }
}

function metadataRemedy({ status }: ApiFailure, server: MetadataServer): string {
  if (status === 0) {
    return server.unreachable;
  }
  if (status === 404) {
    return `Fix: this metadata server has no identity endpoint (Cloud Build, for one) or no service account is attached to the VM. Attach a service account, ${server.otherwise}`;
  }
  if (status === 403) {
    return 'Fix: the metadata server refused the request; on GKE, check Workload Identity is enabled for the node pool and the Kubernetes service account is bound to a Google service account.';
  }
  return `Fix: the metadata server could not provide a token; check the runner's service account and its scopes, ${server.otherwise}`;
}
