import type { KeyObject } from 'node:crypto';
import type { Endpoints } from './endpoints.ts';

// Everything a run needs, read and validated once by `readConfig` (src/inputs/) before any request or side effect.
// This module is the data model only: the layers below read it, none of them imports the readers above.

/** The three kinds of token IAP accepts, and we mint. */
export type TokenType = 'id_token' | 'signed_jwt' | 'access_token';

/** The header a token travels in: IAP reads Proxy-Authorization first, and then passes Authorization on. */
export type TokenHeader = 'authorization' | 'proxy-authorization';

export interface Config {
  /**
   * `id_token`: a Google-signed ID token; `signed_jwt`: a JWT signed by a service account; `access_token`: an OAuth
   * access token with the openid and email scopes (no audience).
   */
  readonly tokenType: TokenType;
  /** token_type auto chose `tokenType`: where IAP refuses it for its audience, an access token may be tried once. */
  readonly auto: boolean;
  /**
   * An ID token's audience is the OAuth client ID IAP accepts; a signed JWT's is the app's URL (or `https://host/*`).
   * Empty when it is to be found from `audienceFrom`, and for an access token, which has none.
   */
  readonly audience: string;
  /** An app URL whose IAP sign-in redirect names the OAuth client an ID token is for (no audience was given). */
  readonly audienceFrom: string | undefined;
  /** How token_type auto chose, or how the audience was implied, for the log; undefined when the user named both. */
  readonly choice: string | undefined;
  /** token_type auto chose a signed JWT from the app's URL alone: an ID token for the app's client is the fallback. */
  readonly signedFromUrl: boolean;
  /** The app's URL, when known (app_url, proxy_to, a proxy host, a smoke-tested URL). */
  readonly appUrl: string | undefined;
  /** A diagnosis of the app's IAP set-up, when asked for. */
  readonly doctor: DoctorConfig | undefined;
  /** A signed JWT's lifetime in seconds (IAP accepts at most 3600). */
  readonly lifetimeSeconds: number;
  readonly source: CredentialSource;
  /** Impersonate this service account (the token is then for it). */
  readonly serviceAccount: string | undefined;
  /** The chain from the caller to `serviceAccount`, as emails. */
  readonly delegates: readonly string[];
  readonly includeEmail: boolean;
  /** Environment variable to export the token as; `undefined`: don't. */
  readonly exportVariable: string | undefined;
  readonly universe: string;
  readonly endpoints: Endpoints;
  /** Smoke tests of the app behind IAP, when smoke_test_urls names any. */
  readonly smoke: SmokeConfig | undefined;
  /** A token agent for the rest of the job (keep_fresh, proxy_to), or undefined for a one-shot token. */
  readonly agent: AgentConfig | undefined;
  /** How the front door that read this config names an input (`lifetime`, `--lifetime`), for advice given later. */
  readonly nameOf: (input: string) => string;
}

/** A service-account key, parsed and checked. The private key never leaves this process except as signatures. */
export interface ServiceAccountKey {
  readonly clientEmail: string;
  readonly privateKey: KeyObject;
  readonly privateKeyId: string | undefined;
  /** The key's own `token_uri`, when it names one. */
  readonly tokenUri: string | undefined;
}

export type CredentialSource =
  ServiceAccountKeySource | WorkloadIdentitySource | MetadataSource | RefreshTokenSource | ExternalAccountSource | ImpersonatedSource;

/** Where a source came from, for the log: `credentials_json`, `GOOGLE_APPLICATION_CREDENTIALS (/path)`, … */
interface Origin {
  readonly origin: string;
}

export interface ServiceAccountKeySource extends Origin {
  readonly kind: 'service_account_key';
  readonly key: ServiceAccountKey;
}

export interface WorkloadIdentitySource extends Origin {
  readonly kind: 'workload_identity';
  /** `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER` */
  readonly provider: string;
  readonly projectNumber: string;
  readonly pool: string;
  /** The audience of the GitHub OIDC token: what the provider's allowed audiences must contain. */
  readonly oidcAudience: string;
  /** `ACTIONS_ID_TOKEN_REQUEST_URL` and its bearer token, which the runner gives jobs with `id-token: write`. */
  readonly oidcRequestUrl: string;
  readonly oidcRequestToken: string;
}

/** The metadata server of a self-hosted runner on GCE, GKE or Cloud Run. */
export interface MetadataSource extends Origin {
  readonly kind: 'metadata';
  /** `metadata.google.internal`, or `GCE_METADATA_HOST` (host[:port]). */
  readonly host: string;
  /** What to say when none answers, in the front door's words: which credentials the user can give instead. */
  readonly unreachable: string;
  /** The same advice as a closing clause: "or give the action a credential: …". */
  readonly otherwise: string;
}

/** A user's OAuth refresh token with the desktop OAuth client that obtained it. */
export interface RefreshTokenSource extends Origin {
  readonly kind: 'refresh_token';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  /** Where the client came from, for remedies: `oauth_client_id and oauth_client_secret`, an ADC file. */
  readonly clientOrigin: string;
}

/** An `external_account` credentials file: a subject token exchanged at STS. */
export interface ExternalAccountSource extends Origin {
  readonly kind: 'external_account';
  /** The STS audience: `//iam.googleapis.com/projects/…/providers/…` (or a workforce pool provider). */
  readonly audience: string;
  readonly subjectTokenType: string;
  readonly tokenUrl: string;
  readonly subjectToken: SubjectTokenSource;
  /** The service account named by `service_account_impersonation_url`, when there is one. */
  readonly impersonate: string | undefined;
  readonly workforcePoolUserProject: string | undefined;
}

export type SubjectTokenSource =
  | { readonly from: 'file'; readonly path: string; readonly field: string | undefined }
  | { readonly from: 'url'; readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly field: string | undefined }
  /** AWS, an executable or a certificate: google-auth-library does the exchange from the file's own JSON. */
  | { readonly from: 'library'; readonly kind: 'aws' | 'executable' | 'certificate'; readonly file: Readonly<Record<string, unknown>> };

/** An `impersonated_service_account` credentials file: source credentials acting as a service account. */
export interface ImpersonatedSource extends Origin {
  readonly kind: 'impersonated_service_account';
  readonly inner: ServiceAccountKeySource | RefreshTokenSource;
  readonly serviceAccount: string;
  readonly delegates: readonly string[];
}

/** The token agent: it re-mints before expiry, keeps a token file fresh, and may serve a proxy. */
export interface AgentConfig {
  /** The authenticating reverse proxy to one origin, when asked for. */
  readonly proxy: ProxyConfig | undefined;
  /** The forward proxy for browsers, adding the token for these hosts only, when asked for. */
  readonly forward: ForwardProxyConfig | undefined;
  /** What bounds the proxies' connections and waits. */
  readonly limits: ProxyLimits;
}

export interface ProxyLimits {
  /** Client connections held at once, per proxy; past it, 503. */
  readonly maxConnections: number;
  /** How long the app may take to begin an answer (0: no limit); an answered exchange has none. */
  readonly responseTimeoutMs: number;
  /** A forward-proxy tunnel to a host passed through untouched closes after this long idle (0: never). */
  readonly tunnelIdleTimeoutMs: number;
}

export interface ForwardProxyConfig {
  /** Host names, or `*.domain` for its direct subdomains, in lower case. */
  readonly hosts: readonly string[];
  readonly header: TokenHeader;
  readonly host: string;
  readonly port: number;
}

export interface ProxyConfig {
  /** The origin every request goes to: `https://app.example.com` (no path, query or user). */
  readonly target: string;
  /** The header that carries the token: IAP reads Proxy-Authorization first, and then passes Authorization on. */
  readonly header: TokenHeader;
  /** Where the proxy listens: 127.0.0.1 unless asked; port 0 is any free port. */
  readonly host: string;
  readonly port: number;
}

/** The smoke tests asked for: what to call, how to send the token, what counts as success, how long to wait. */
export interface SmokeConfig {
  readonly targets: readonly SmokeTarget[];
  /** The header that carries the token: IAP reads Proxy-Authorization first, and then passes Authorization on. */
  readonly header: TokenHeader;
  /** Extra headers sent with every request (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  readonly expected: StatusSet;
  readonly retryForMs: number;
  readonly timeoutMs: number;
}

export interface SmokeTarget {
  readonly method: string;
  readonly url: string;
  /** A `DENY URL` line: sent without any token, it passes only when IAP itself refuses it. */
  readonly deny: boolean;
}

/** `doctor: true`: a diagnosis of the app's IAP set-up before the token is minted, for the step summary. */
export interface DoctorConfig {
  /** The app's URL (app_url, proxy_to or the first smoke-tested URL). */
  readonly url: string;
  /** Other URLs of the same app that must not answer around IAP (a Cloud Run service's run.app URL). */
  readonly also: readonly string[];
  /** The IAP resource name, for reading its settings and IAM policy, when the URL does not give it away. */
  readonly iapResource: string | undefined;
  /** Fail the step when the doctor finds a problem; otherwise it only reports. */
  readonly failOnProblem: boolean;
}

export interface StatusSet {
  /** As the user wrote it, for messages. */
  readonly text: string;
  readonly ranges: ReadonlyArray<readonly [number, number]>;
}
