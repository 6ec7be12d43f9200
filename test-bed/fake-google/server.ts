import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import { newSigningKey, serviceAccountKeyFile, sign, type SigningKey } from './jwt.ts';
import { handleAuthorize, handleOAuthToken } from './oauth.ts';
import { handleSts } from './sts.ts';
import { handleIamCredentials } from './iam.ts';
import { handleGitHubOidc } from './github.ts';
import { handleDirect, handleIapApp, handlePublic } from './iap.ts';
import { handleIapAdmin } from './iap-admin.ts';
import { handleMetadata } from './metadata.ts';
import { handleStream, handleUpgrade } from './streams.ts';

/**
 * A fake Google on 127.0.0.1 for tests and the demo: the OAuth token endpoint, STS, IAM Credentials, GitHub's OIDC
 * endpoint, two IAP-protected apps (one on a custom OAuth client; one directly on Cloud Run, on Google's managed
 * client), that Cloud Run service's URL with no IAP in front, and IAP's read-only admin API, following
 * ../shared/google-wire-formats.md. It signs real RS256 JWTs with keys it generates, checks requests as strictly as
 * Google does, counts them, and injects faults per endpoint.
 */

export type Endpoint = 'oauth2' | 'sts' | 'iamcredentials' | 'github' | 'iap' | 'metadata' | 'accounts' | 'public';

/**
 * Every endpoint the fake counts and injects faults into: Endpoint, and the Cloud Run URL without IAP and IAP's admin
 * API. Kept apart from Endpoint so that code switching over Endpoint exhaustively (the fault matrix) still compiles.
 */
export type AnyEndpoint = Endpoint | 'direct' | 'iapAdmin';

export interface Req {
  /** The origin the client addressed (scheme and Host header), as Google checks an assertion's audience. */
  readonly origin: string;
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | Record<string, unknown>;
}

/** Served instead of the real answer, in order, one per request to the endpoint. */
export interface Fault {
  readonly status?: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Destroy the connection without an answer. */
  readonly reset?: boolean;
  /** Wait this long first; alone, the real answer follows the wait. */
  readonly delayMs?: number;
}

export type Identity =
  /** A service account's token; `scopes` as asked for (absent: cloud-platform, what the callers of IAM ask for). */
  | { readonly kind: 'serviceAccount'; readonly email: string; readonly scopes?: readonly string[] }
  | { readonly kind: 'user'; readonly email: string; readonly scopes: readonly string[] }
  | { readonly kind: 'federated'; readonly members: readonly string[] };

/** A person who signed in with a desktop OAuth client and holds a refresh token. */
export interface RefreshGrant {
  readonly clientId: string;
  readonly email: string;
  readonly scopes: readonly string[];
}

export interface ServiceAccount {
  readonly email: string;
  readonly uniqueId: string;
  readonly key: SigningKey;
  disabled: boolean;
}

export interface Provider {
  /** Audiences GitHub's token may carry; empty means the default `https://iam.googleapis.com/<provider>`. */
  readonly allowedAudiences: readonly string[];
  readonly condition?: (claims: Record<string, unknown>) => boolean;
  disabled?: boolean;
}

export const GOOGLE_ISSUER = 'https://accounts.google.com';
export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

/** Which IAM permissions each role grants, as far as this action needs them. */
export const ROLE_PERMISSIONS: Readonly<Record<string, readonly string[]>> = {
  'roles/iam.serviceAccountTokenCreator': [
    'iam.serviceAccounts.getAccessToken',
    'iam.serviceAccounts.getOpenIdToken',
    'iam.serviceAccounts.implicitDelegation',
    'iam.serviceAccounts.signBlob',
    'iam.serviceAccounts.signJwt',
  ],
  'roles/iam.serviceAccountOpenIdTokenCreator': ['iam.serviceAccounts.getOpenIdToken'],
  'roles/iam.workloadIdentityUser': ['iam.serviceAccounts.getAccessToken', 'iam.serviceAccounts.getOpenIdToken'],
  // IAP's admin API, read-only: what a doctor needs to show an app's settings and who may pass.
  'roles/iap.settingsAdmin': ['iap.webServices.getSettings'],
  'roles/iap.admin': ['iap.webServices.getSettings', 'iap.webServices.getIamPolicy'],
  'roles/iam.securityReviewer': ['iap.webServices.getIamPolicy'],
};

/** The project that owns the fake's IAP apps, by number, as IAP's resource names spell it. */
export const PROJECT_NUMBER = '123456789012';

/**
 * One app behind IAP, as its gate and IAP's admin API read it: the protected resource's name, the OAuth client IAP
 * uses, the clients allowlisted for programmatic access, and who holds roles/iap.httpsResourceAccessor from when (a
 * grant propagates, as IAM's do).
 */
export interface IapApp {
  resource: string;
  clientId: string;
  programmaticClients: string[];
  /** IAP takes OAuth access tokens with the openid and email scopes here; older deployments answer "Unable to parse JWT". */
  acceptsAccessTokens: boolean;
  readonly accessors: Map<string, number>;
}

export class FakeGoogle {
  url = '';
  /** Google's signer for ID tokens (accounts.google.com) and GitHub's for OIDC tokens. */
  readonly googleKey = newSigningKey();
  readonly githubKey = newSigningKey();
  readonly serviceAccounts = new Map<string, ServiceAccount>();
  readonly providers = new Map<string, Provider>();
  readonly grants: Array<{ resource: string; member: string; role: string }> = [];
  readonly accessTokens = new Map<string, { identity: Identity; expiresAt: number }>();
  /**
   * Every credential the fake handed out or was given to hand the action: none may show in a log. It only grows:
   * reset() keeps it, so a credential from an earlier test that shows up in a later test's log is still a leak.
   */
  readonly secrets = new Set<string>();
  readonly requests: Array<{ endpoint: AnyEndpoint; method: string; path: string; query: URLSearchParams; at: number }> = [];
  readonly faults = new Map<AnyEndpoint, Fault[]>();
  /** Requests being handled now, and the most ever handled at once, per endpoint: proof of parallel callers. */
  readonly inFlight = new Map<AnyEndpoint, number>();
  readonly maxInFlight = new Map<AnyEndpoint, number>();
  /**
   * Bytes the streamed app (streams.ts) has read of uploads and written of downloads so far. With what a client has
   * sent or received, the bytes in between: what a proxy in the way holds, which for one that streams is what the
   * sockets' buffers hold, never a whole body.
   */
  readonly streamed = { uploaded: 0, downloaded: 0 };
  /** Uploads that asked to be held (`?hold`): the app reads none of them until releaseUploads(). */
  readonly heldUploads: Array<() => void> = [];
  /** What reached the app behind IAP: the path and the Authorization header IAP passed on. */
  readonly appRequests: Array<{ path: string; method: string; authorization: string | null }> = [];
  /** What reached the public origin beside the app (no IAP): the host and every credential header it was sent. */
  readonly publicRequests: Array<{ host: string; path: string; authorization: string | null; proxyAuthorization: string | null }> = [];
  /** What reached the Cloud Run URL with no IAP in front (/direct), open or not: every credential header it was sent. */
  readonly directRequests: Array<{ host: string; path: string; authorization: string | null; proxyAuthorization: string | null }> = [];
  /** The runner's bearer token for GitHub's OIDC endpoint, and the claims of the job it vouches for. */
  readonly githubRequestToken = `ghs_${randomBytes(24).toString('hex')}`;
  githubClaims: Record<string, unknown> = {
    repository: 'octo-org/deploy-app',
    repository_owner: 'octo-org',
    repository_id: '123456789',
    ref: 'refs/heads/main',
    event_name: 'push',
    workflow_ref: 'octo-org/deploy-app/.github/workflows/deploy.yml@refs/heads/main',
    sub: 'repo:octo-org/deploy-app:ref:refs/heads/main',
  };
  /**
   * The IAP-protected app at /app: IAP on a load balancer's backend service, with a custom OAuth client of the
   * project's own, which IAP accepts ID tokens for as well as those for allowlisted clients.
   */
  readonly iap: IapApp = {
    resource: `projects/${PROJECT_NUMBER}/iap_web/compute/services/5555555555555`,
    clientId: '1234567890-iapclient.apps.googleusercontent.com',
    programmaticClients: [],
    acceptsAccessTokens: true,
    accessors: new Map<string, number>(),
  };
  /**
   * The app at /run: IAP directly on a Cloud Run service, on Google's managed OAuth client. A browser signs in with
   * that client, but IAP refuses a programmatic ID token for it: only allowlisted clients, or a signed JWT, get through.
   * Behind IAP, Cloud Run itself answers 403 unless IAP's service agent holds roles/run.invoker (`invokerGranted`).
   */
  readonly runIap: IapApp & { invokerGranted: boolean } = {
    resource: `projects/${PROJECT_NUMBER}/iap_web/cloud_run-europe-west1/services/hello`,
    clientId: '123456789012-iapmanaged.apps.googleusercontent.com',
    programmaticClients: [],
    acceptsAccessTokens: true,
    accessors: new Map<string, number>(),
    invokerGranted: true,
  };
  /** The Cloud Run service's own run.app URL at /direct, around the load balancer: open (allUsers, ingress all) or not. */
  readonly direct = { open: true };

  /** Grants roles/iap.httpsResourceAccessor on /app to `member`, effective after `propagationMs`. */
  allow(member: string, propagationMs = 0): void {
    this.iap.accessors.set(member, propagationMs > 0 ? this.now() + propagationMs : 0);
  }

  /** Grants roles/iap.httpsResourceAccessor on /run to `member`, effective after `propagationMs`. */
  allowRun(member: string, propagationMs = 0): void {
    this.runIap.accessors.set(member, propagationMs > 0 ? this.now() + propagationMs : 0);
  }
  /** Desktop OAuth clients (id → secret) and the refresh tokens they issued. */
  readonly oauthClients = new Map<string, string>();
  readonly refreshTokens = new Map<string, RefreshGrant>();
  /** Google's sign-in page: who signs in, and whether they consent; and the codes it has issued. */
  readonly signIn: { email: string; consent: boolean } = { email: 'alice@example.com', consent: true };
  readonly authorizationCodes = new Map<string, { clientId: string; redirectUri: string; challenge: string; email: string }>();
  /**
   * The runner's metadata server: its default service account, if one is attached, and whether it honours `?scopes=`
   * on token requests (Cloud Run, GKE with Workload Identity) or, as a Compute Engine VM's does, ignores it.
   */
  readonly metadata: { serviceAccount: string | undefined; honoursScopes: boolean } = { serviceAccount: undefined, honoursScopes: false };
  now: () => number = Date.now;
  /** How long the ID tokens it issues live: Google's hour, or seconds, so that the agent's refresh runs in a test. */
  idTokenLifetimeS = 3600;
  /** How long the access tokens it issues live (STS, OAuth, IAM, metadata): an hour, or seconds for refresh tests. */
  accessTokenLifetimeS = 3599;

  /** The same fake over HTTPS (certificate for *.fake-google.test, test-bed/tls/ca.pem), for proxy tests. */
  httpsPort = 0;
  readonly #servers: Server[];
  readonly #upgraded = new Set<Duplex>();
  /** What reset() returns to: the state as constructed, until markBaseline() takes another. */
  #baseline: Baseline;
  /** Counts forgetRequests() calls: the in-flight figures belong to the requests since the last one. */
  #generation = 0;

  constructor() {
    this.secrets.add(this.githubRequestToken);
    this.#baseline = this.#snapshot();
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      // Uploads and downloads of any size are streamed, never held whole (test-bed/fake-google/streams.ts).
      if (handleStream(this, req, res)) return;
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake.invalid');
        const scheme = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
        void this.#dispatch(
          {
            origin: `${scheme}://${req.headers.host ?? 'unknown'}`,
            method: req.method ?? 'GET',
            path: url.pathname,
            query: url.searchParams,
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          },
          res,
        );
      });
    };
    const tls = (name: string) => readFileSync(new URL(`../tls/${name}`, import.meta.url));
    this.#servers = [createServer(handle), createTlsServer({ key: tls('server-key.pem'), cert: tls('server.pem') }, handle)];
    for (const server of this.#servers) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
        // An upgraded connection is no longer the server's to close: stop() ends these itself.
        this.#upgraded.add(socket);
        socket.on('close', () => this.#upgraded.delete(socket));
        handleUpgrade(this, req, socket);
      });
    }
  }

  async start(): Promise<this> {
    const ports = await Promise.all(
      this.#servers.map(
        (server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))),
      ),
    );
    this.url = `http://127.0.0.1:${ports[0]}`;
    this.httpsPort = ports[1] ?? 0;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.#upgraded) socket.destroy();
    await Promise.all(
      this.#servers.map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
  }

  /**
   * The environment that points the action at this fake instead of Google and GitHub. `base(api)` gives each API's
   * origin: by default this fake's plain-HTTP loopback address; proxy tests name https://API.fake-google.test hosts.
   */
  env(base: (api: string) => string = () => this.url): Record<string, string> {
    return {
      GHA_ENDPOINT_OVERRIDE_oauth2: `${base('oauth2')}/oauth2`,
      GHA_ENDPOINT_OVERRIDE_sts: `${base('sts')}/sts/v1`,
      GHA_ENDPOINT_OVERRIDE_iamcredentials: `${base('iamcredentials')}/iamcredentials/v1`,
      GHA_ENDPOINT_OVERRIDE_accounts: base('accounts'),
      GHA_ENDPOINT_OVERRIDE_iap: `${base('iap')}/iap/v1`,
      ACTIONS_ID_TOKEN_REQUEST_URL: `${base('github')}/github/oidc?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: this.githubRequestToken,
    };
  }

  /** GCE_METADATA_HOST for this fake: the metadata server answers on the same port. */
  get metadataHost(): string {
    return this.url.replace(/^http:\/\//, '');
  }

  get appUrl(): string {
    return `${this.url}/app`;
  }

  /** The app directly on Cloud Run behind IAP (Google's managed OAuth client). */
  get runUrl(): string {
    return `${this.url}/run`;
  }

  /** The same Cloud Run service's run.app URL, with no IAP in front. */
  get directUrl(): string {
    return `${this.url}/direct`;
  }

  /** A service account with one key; returns the key file as Google would let you download it. */
  addServiceAccount(email: string, options: { tokenUri?: string } = {}): { account: ServiceAccount; keyFile: Record<string, string> } {
    const account: ServiceAccount = {
      email,
      uniqueId: String(100000000000000000000n + BigInt(this.serviceAccounts.size)),
      key: newSigningKey(),
      disabled: false,
    };
    this.serviceAccounts.set(email, account);
    const keyFile = serviceAccountKeyFile(email, account.key, {
      client_id: account.uniqueId,
      token_uri: options.tokenUri ?? `${this.url}/oauth2/token`,
    });
    this.secrets.add(keyFile['private_key'] ?? '');
    return { account, keyFile };
  }

  addProvider(name: string, provider: Provider = { allowedAudiences: [] }): void {
    this.providers.set(name, provider);
  }

  grant(resource: string, member: string, role: string): void {
    this.grants.push({ resource, member, role });
  }

  /** A desktop OAuth client and a user's refresh token from it. */
  addUser(
    email: string,
    scopes: readonly string[] = ['openid', 'email'],
  ): { clientId: string; clientSecret: string; refreshToken: string } {
    const clientId = `${this.oauthClients.size + 1}00000-desktop.apps.googleusercontent.com`;
    const clientSecret = `GOCSPX-${randomBytes(18).toString('base64url')}`;
    const refreshToken = `1//0g${randomBytes(48).toString('base64url')}`;
    this.oauthClients.set(clientId, clientSecret);
    this.refreshTokens.set(refreshToken, { clientId, email, scopes });
    this.secrets.add(clientSecret);
    this.secrets.add(refreshToken);
    return { clientId, clientSecret, refreshToken };
  }

  hasPermission(resource: string, identity: Identity, permission: string): boolean {
    const members = identity.kind === 'federated' ? identity.members : [memberOf(identity)];
    return this.grants.some(
      (g) => g.resource === resource && members.includes(g.member) && (ROLE_PERMISSIONS[g.role] ?? []).includes(permission),
    );
  }

  /**
   * Takes the current state as the baseline reset() returns to: a test file's world (accounts, providers, grants, IAP
   * accessors, users…) once it is set up. Copies it, so what tests change afterwards never reaches the baseline.
   */
  markBaseline(): void {
    this.#baseline = this.#snapshot();
  }

  /**
   * Forgets everything the last test did: returns every piece of state to the baseline (markBaseline(), else the state
   * as constructed) and forgets the traffic (forgetRequests()). Objects that were there at the baseline (service
   * accounts, providers, signIn, metadata, iap, runIap, direct) are restored in place, so references to them stay live; anything added
   * since is removed. Only `secrets` is kept, and keeps growing: it is every credential ever handed out, for leak checks.
   */
  reset(): void {
    const base = this.#baseline;
    this.forgetRequests();
    refill(
      this.serviceAccounts,
      base.serviceAccounts.map(({ email, account, fields }) => {
        restoreFields(account, { ...fields });
        return [email, account];
      }),
    );
    refill(
      this.providers,
      base.providers.map(({ name, provider, fields }) => {
        restoreFields(provider, copyProvider(fields));
        return [name, provider];
      }),
    );
    this.grants.splice(0, this.grants.length, ...base.grants.map((grant) => ({ ...grant })));
    refill(
      this.accessTokens,
      base.accessTokens.map(([token, entry]) => [token, { ...entry }]),
    );
    refill(this.oauthClients, base.oauthClients);
    refill(
      this.refreshTokens,
      base.refreshTokens.map(([token, grant]) => [token, copyRefreshGrant(grant)]),
    );
    refill(
      this.authorizationCodes,
      base.authorizationCodes.map(([code, issued]) => [code, { ...issued }]),
    );
    this.githubClaims = structuredClone(base.githubClaims);
    restoreIapApp(this.iap, base.iap);
    restoreIapApp(this.runIap, base.runIap);
    this.runIap.invokerGranted = base.runIap.invokerGranted;
    restoreFields(this.direct, { ...base.direct });
    restoreFields(this.signIn, { ...base.signIn });
    restoreFields(this.metadata, { ...base.metadata });
    this.now = base.now;
    this.idTokenLifetimeS = base.idTokenLifetimeS;
    this.accessTokenLifetimeS = base.accessTokenLifetimeS;
  }

  /**
   * Forgets the traffic only: requests seen (and what reached the app), faults not yet served, concurrency figures;
   * keeps accounts, grants and every other state. For a test that changes the world and then counts a second run's
   * requests from zero. A baseline never includes traffic: reset() always empties it.
   */
  forgetRequests(): void {
    this.requests.length = 0;
    this.appRequests.length = 0;
    this.publicRequests.length = 0;
    this.directRequests.length = 0;
    this.streamed.uploaded = 0;
    this.streamed.downloaded = 0;
    this.releaseUploads();
    this.faults.clear();
    this.inFlight.clear();
    this.maxInFlight.clear();
    this.#generation++;
  }

  /** A copy of every piece of mutable state but the traffic and `secrets`; SigningKeys and functions are shared. */
  #snapshot(): Baseline {
    return {
      serviceAccounts: [...this.serviceAccounts].map(([email, account]) => ({ email, account, fields: { ...account } })),
      providers: [...this.providers].map(([name, provider]) => ({ name, provider, fields: copyProvider(provider) })),
      grants: this.grants.map((grant) => ({ ...grant })),
      accessTokens: [...this.accessTokens].map(([token, entry]) => [token, { ...entry }]),
      oauthClients: [...this.oauthClients],
      refreshTokens: [...this.refreshTokens].map(([token, grant]) => [token, copyRefreshGrant(grant)]),
      authorizationCodes: [...this.authorizationCodes].map(([code, issued]) => [code, { ...issued }]),
      githubClaims: structuredClone(this.githubClaims),
      iap: snapshotIapApp(this.iap),
      runIap: { ...snapshotIapApp(this.runIap), invokerGranted: this.runIap.invokerGranted },
      direct: { ...this.direct },
      signIn: { ...this.signIn },
      metadata: { ...this.metadata },
      now: this.now,
      idTokenLifetimeS: this.idTokenLifetimeS,
      accessTokenLifetimeS: this.accessTokenLifetimeS,
    };
  }

  /** The app reads the uploads it held (`?hold`), from where they are. */
  releaseUploads(): void {
    for (const release of this.heldUploads.splice(0)) release();
  }

  inject(endpoint: AnyEndpoint, ...faults: Fault[]): void {
    this.faults.set(endpoint, [...(this.faults.get(endpoint) ?? []), ...faults]);
  }

  count(endpoint?: AnyEndpoint): number {
    return endpoint ? this.requests.filter((r) => r.endpoint === endpoint).length : this.requests.length;
  }

  issueAccessToken(identity: Identity, lifetimeS = this.accessTokenLifetimeS): string {
    const token = `ya29.fake-${randomBytes(32).toString('base64url')}`;
    this.accessTokens.set(token, { identity, expiresAt: this.now() + lifetimeS * 1000 });
    this.secrets.add(token);
    return token;
  }

  /** Who a bearer token belongs to, or undefined when it is unknown or expired. */
  identify(authorization: string | undefined): Identity | undefined {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const entry = token ? this.accessTokens.get(token) : undefined;
    return entry && entry.expiresAt > this.now() ? entry.identity : undefined;
  }

  /** A Google-signed ID token, as accounts.google.com issues them for service accounts and users. */
  issueIdToken(subject: { email: string; uniqueId: string; azp?: string }, audience: string, includeEmail: boolean): string {
    const iat = Math.floor(this.now() / 1000);
    const token = sign(
      {
        aud: audience,
        azp: subject.azp ?? subject.uniqueId,
        ...(includeEmail ? { email: subject.email, email_verified: true } : {}),
        exp: iat + this.idTokenLifetimeS,
        iat,
        iss: GOOGLE_ISSUER,
        sub: subject.uniqueId,
      },
      this.googleKey,
    );
    this.secrets.add(token);
    return token;
  }

  /** A GitHub Actions OIDC token for the configured job. */
  issueGitHubToken(audience: string): string {
    const iat = Math.floor(this.now() / 1000);
    const token = sign(
      { ...this.githubClaims, aud: audience, iss: GITHUB_ISSUER, iat, nbf: iat, exp: iat + 300, jti: randomUUID() },
      this.githubKey,
    );
    this.secrets.add(token);
    return token;
  }

  async #dispatch(req: Req, res: ServerResponse): Promise<void> {
    const endpoint = routeOf(req.path);
    if (!endpoint) return send(res, { status: 404, body: 'Not Found' });
    this.requests.push({ endpoint, method: req.method, path: req.path, query: req.query, at: this.now() });
    const inFlight = (this.inFlight.get(endpoint) ?? 0) + 1;
    this.inFlight.set(endpoint, inFlight);
    this.maxInFlight.set(endpoint, Math.max(inFlight, this.maxInFlight.get(endpoint) ?? 0));
    // A request that began before forgetRequests() no longer counts, so it must not lower the new figures either.
    const generation = this.#generation;
    res.on('close', () => {
      if (generation === this.#generation) this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 1) - 1);
    });
    const fault = this.faults.get(endpoint)?.shift();
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (res.destroyed) return;
    if (fault?.reset) {
      res.socket?.destroy();
      return;
    }
    if (fault?.status) {
      return send(res, {
        status: fault.status,
        headers: fault.headers ?? { 'content-type': 'application/json' },
        body: fault.body ?? { error: { code: fault.status, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } },
      });
    }
    try {
      send(res, this.#handle(endpoint, req));
    } catch (error) {
      send(res, { status: 500, body: { error: { code: 500, message: `fake Google bug: ${String(error)}`, status: 'INTERNAL' } } });
    }
  }

  #handle(endpoint: AnyEndpoint, req: Req): Reply {
    switch (endpoint) {
      case 'oauth2':
        return handleOAuthToken(this, req);
      case 'sts':
        return handleSts(this, req);
      case 'iamcredentials':
        return handleIamCredentials(this, req);
      case 'github':
        return handleGitHubOidc(this, req);
      case 'iap':
        return handleIapApp(this, req);
      case 'metadata':
        return handleMetadata(this, req);
      case 'accounts':
        return handleAuthorize(this, req);
      case 'public':
        return handlePublic(this, req);
      case 'direct':
        return handleDirect(this, req);
      case 'iapAdmin':
        return handleIapAdmin(this, req);
    }
  }
}

/**
 * The state FakeGoogle.reset() returns to. Each part is a copy, never the live object, so that a test's changes (an
 * account disabled, a grant pushed, a claim changed) do not reach it; live objects that were present are remembered
 * alongside their fields so that reset() can restore them in place.
 */
interface Baseline {
  readonly serviceAccounts: ReadonlyArray<{ readonly email: string; readonly account: ServiceAccount; readonly fields: ServiceAccount }>;
  readonly providers: ReadonlyArray<{ readonly name: string; readonly provider: Provider; readonly fields: Provider }>;
  readonly grants: ReadonlyArray<{ resource: string; member: string; role: string }>;
  readonly accessTokens: ReadonlyArray<readonly [string, { identity: Identity; expiresAt: number }]>;
  readonly oauthClients: ReadonlyArray<readonly [string, string]>;
  readonly refreshTokens: ReadonlyArray<readonly [string, RefreshGrant]>;
  readonly authorizationCodes: ReadonlyArray<
    readonly [string, { clientId: string; redirectUri: string; challenge: string; email: string }]
  >;
  readonly githubClaims: Record<string, unknown>;
  readonly iap: IapAppFields;
  readonly runIap: IapAppFields & { readonly invokerGranted: boolean };
  readonly direct: { open: boolean };
  readonly signIn: { email: string; consent: boolean };
  readonly metadata: { serviceAccount: string | undefined; honoursScopes: boolean };
  readonly now: () => number;
  readonly idTokenLifetimeS: number;
  readonly accessTokenLifetimeS: number;
}

/** An IapApp's fields as a baseline holds them: copies, with the accessors as entries. */
interface IapAppFields {
  readonly resource: string;
  readonly clientId: string;
  readonly programmaticClients: readonly string[];
  readonly acceptsAccessTokens: boolean;
  readonly accessors: ReadonlyArray<readonly [string, number]>;
}

function snapshotIapApp(app: IapApp): IapAppFields {
  return {
    resource: app.resource,
    clientId: app.clientId,
    programmaticClients: [...app.programmaticClients],
    acceptsAccessTokens: app.acceptsAccessTokens,
    accessors: [...app.accessors],
  };
}

/** Restores `app` in place: its accessors map stays the same object, for code that holds it. */
function restoreIapApp(app: IapApp, fields: IapAppFields): void {
  app.resource = fields.resource;
  app.clientId = fields.clientId;
  app.programmaticClients = [...fields.programmaticClients];
  app.acceptsAccessTokens = fields.acceptsAccessTokens;
  refill(app.accessors, fields.accessors);
}

function copyProvider(provider: Provider): Provider {
  return { ...provider, allowedAudiences: [...provider.allowedAudiences] };
}

function copyRefreshGrant(grant: RefreshGrant): RefreshGrant {
  return { ...grant, scopes: [...grant.scopes] };
}

/** Empties `map` in place (it may be readonly, or held elsewhere) and fills it with `entries`. */
function refill<K, V>(map: Map<K, V>, entries: Iterable<readonly [K, V]>): void {
  map.clear();
  for (const [key, value] of entries) map.set(key, value);
}

/** Makes `target` hold exactly `fields`, in place: properties added since are deleted, changed ones set back. */
function restoreFields<T extends object>(target: T, fields: T): void {
  for (const key of Object.keys(target)) {
    if (!Object.hasOwn(fields, key)) delete (target as Record<string, unknown>)[key];
  }
  Object.assign(target, fields);
}

/** The IAM member an identity is granted roles as. */
export function memberOf(identity: Exclude<Identity, { kind: 'federated' }>): string {
  return identity.kind === 'user' ? `user:${identity.email}` : `serviceAccount:${identity.email}`;
}

function routeOf(path: string): AnyEndpoint | undefined {
  if (path === '/oauth2/token') return 'oauth2';
  if (path === '/sts/v1/token') return 'sts';
  if (path.startsWith('/iamcredentials/v1/')) return 'iamcredentials';
  if (path === '/github/oidc') return 'github';
  // Both apps behind IAP count as one endpoint: IAP's front end, whichever resource it protects.
  if (path === '/app' || path.startsWith('/app/') || path === '/run' || path.startsWith('/run/')) return 'iap';
  if (path === '/direct' || path.startsWith('/direct/')) return 'direct';
  if (path.startsWith('/iap/v1/')) return 'iapAdmin';
  if (path.startsWith('/computeMetadata/')) return 'metadata';
  if (path.startsWith('/public/')) return 'public';
  if (path === '/o/oauth2/v2/auth') return 'accounts';
  return undefined;
}

function send(res: ServerResponse, reply: Reply): void {
  const body = typeof reply.body === 'string' || reply.body === undefined ? (reply.body ?? '') : JSON.stringify(reply.body);
  const json = typeof reply.body === 'object';
  res.writeHead(reply.status, { ...(json ? { 'content-type': 'application/json; charset=utf-8' } : {}), ...reply.headers });
  res.end(body);
}

/** Parses a form or JSON body; Google's token endpoints take both. */
export function parseBody(req: Req): Record<string, unknown> | undefined {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim();
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(req.body));
  if (type === 'application/json') {
    try {
      const value: unknown = JSON.parse(req.body);
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A request field as text: form values are strings already; anything else (JSON) is shown as JSON. */
export function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Google's OAuth-style error (token endpoint, STS). */
export function oauthError(status: number, error: string, description: string): Reply {
  return { status, body: { error, error_description: description } };
}

/** Google's API-style error (IAM Credentials, IAP's admin API). */
export function apiError(code: number, status: string, message: string, details?: Array<Record<string, unknown>>): Reply {
  return { status: code, body: { error: { code, message, status, ...(details ? { details } : {}) } } };
}
