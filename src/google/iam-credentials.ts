import type { ApiFailure } from '../errors.ts';
import type { Http } from '../http/client.ts';
import { CLOUD_PLATFORM_SCOPE, secretField, type AccessToken } from './answer.ts';
import { googleFailure } from './failure.ts';

/**
 * The IAM Service Account Credentials API: one client for its calls, each made on behalf of a caller (whose access
 * token it carries) for a target service account, optionally through a chain of delegates.
 */
export interface Impersonation {
  readonly serviceAccount: string;
  readonly delegates: readonly string[];
  /** Where the user named them, for remedies: `service_account and delegates`, `--service-account`, a file. */
  readonly origin?: string;
}

/** Who calls, as far as remedies need to say it: which member must hold a role, and whether it is federated. */
export interface CallerIdentity {
  /** The email the caller acts as, when it is a service account (or a user) and known. */
  readonly principal: string | undefined;
  /** The IAM member that must hold roles, as `gcloud … --member` wants it. */
  readonly member: string;
  /** Identities from Workload Identity Federation, which IAM grants roles through workloadIdentityUser. */
  readonly federated: boolean;
}

const ACCESS_TOKEN_LIFETIME_S = 3600;

export class IamCredentials {
  readonly #http: Http;
  readonly #base: string;
  readonly #now: () => number;

  constructor(http: Http, base: string, now: () => number = Date.now) {
    this.#http = http;
    this.#base = base;
    this.#now = now;
  }

  /** `generateIdToken`: a Google-signed ID token for the service account. */
  async generateIdToken(
    caller: CallerIdentity,
    accessToken: string,
    target: Impersonation,
    audience: string,
    includeEmail: boolean,
  ): Promise<string> {
    const answer = await this.#call(caller, accessToken, target, 'generateIdToken', { audience, includeEmail });
    return secretField(answer, 'token', 'IAM Credentials generateIdToken');
  }

  /** `generateAccessToken`: an access token for the service account (cloud-platform unless asked), for an hour. */
  async generateAccessToken(
    caller: CallerIdentity,
    accessToken: string,
    target: Impersonation,
    scopes: readonly string[] = [CLOUD_PLATFORM_SCOPE],
  ): Promise<AccessToken> {
    const answer = await this.#call(caller, accessToken, target, 'generateAccessToken', {
      scope: scopes,
      lifetime: `${ACCESS_TOKEN_LIFETIME_S}s`,
    });
    const token = secretField(answer, 'accessToken', 'IAM Credentials generateAccessToken');
    const expireTime = typeof answer['expireTime'] === 'string' ? Date.parse(answer['expireTime']) : NaN;
    return { token, expiresAt: Number.isNaN(expireTime) ? this.#now() + ACCESS_TOKEN_LIFETIME_S * 1000 : expireTime };
  }

  /** `signJwt`: the claims signed by one of the service account's Google-managed keys. */
  async signJwt(caller: CallerIdentity, accessToken: string, target: Impersonation, claims: Record<string, unknown>): Promise<string> {
    const answer = await this.#call(caller, accessToken, target, 'signJwt', { payload: JSON.stringify(claims) });
    return secretField(answer, 'signedJwt', 'IAM Credentials signJwt');
  }

  #call(
    caller: CallerIdentity,
    accessToken: string,
    target: Impersonation,
    method: keyof typeof PERMISSIONS,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const delegates = target.delegates.map(resourceName);
    return this.#http.json({
      failure: googleFailure,
      what: `IAM Credentials ${method} for ${target.serviceAccount}`,
      method: 'POST',
      // The `-` project is required: Google infers the project from the account.
      url: `${this.#base}/${resourceName(target.serviceAccount)}:${method}`,
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(delegates.length ? { ...body, delegates } : body),
      remedy: (failure) => iamRemedy(failure, caller, target, PERMISSIONS[method]),
    });
  }
}

function resourceName(email: string): string {
  return `projects/-/serviceAccounts/${email}`;
}

/** The permission each method checks on the target, for remedies when Google's answer does not name it. */
const PERMISSIONS = {
  generateIdToken: 'iam.serviceAccounts.getOpenIdToken',
  generateAccessToken: 'iam.serviceAccounts.getAccessToken',
  signJwt: 'iam.serviceAccounts.signJwt',
} as const;

const TOKEN_CREATOR = 'roles/iam.serviceAccountTokenCreator';
const OPENID_TOKEN_CREATOR = 'roles/iam.serviceAccountOpenIdTokenCreator';
const WORKLOAD_IDENTITY_USER = 'roles/iam.workloadIdentityUser';

/** Which role the caller lacks, on which account, and the gcloud line that grants it. */
export function iamRemedy(
  failure: ApiFailure,
  caller: CallerIdentity,
  target: Impersonation,
  expected: string = PERMISSIONS.generateIdToken,
): string | undefined {
  const { status, reason, message } = failure;
  if (reason === 'SERVICE_DISABLED' || /has not been used in project|is disabled/i.test(message)) {
    return "Fix: enable the IAM Service Account Credentials API in the service account's project: gcloud services enable iamcredentials.googleapis.com --project=PROJECT_ID";
  }
  if (status === 404) {
    return `Fix: the service account ${target.serviceAccount} does not exist; check ${target.origin ?? 'the service account (and delegates)'}.`;
  }
  // Only signJwt refuses federated tokens by type; a federated token refused elsewhere has expired or been revoked.
  if (status === 401 && (failure.reason === 'ACCESS_TOKEN_TYPE_UNSUPPORTED' || (caller.federated && expected === PERMISSIONS.signJwt))) {
    return "Fix: a federated token cannot call this method; iap-token should have exchanged it for the service account's own access token first. Please report this.";
  }
  if (status === 401) {
    return "Fix: the caller's access token was refused; the credential may have been revoked or the token expired.";
  }
  if (status !== 403) return undefined;
  const permission = failure.permission ?? expected;
  if (/scope/i.test(failure.message) || failure.reason === 'ACCESS_TOKEN_SCOPE_INSUFFICIENT') {
    return "Fix: the caller's access token lacks the cloud-platform scope. A refresh token must be issued with the https://www.googleapis.com/auth/cloud-platform scope; a VM needs the cloud-platform access scope.";
  }
  if (target.delegates.length === 0 && caller.principal === target.serviceAccount) {
    return [
      `Fix: ${target.serviceAccount} lacks ${permission} on itself: a service account does not hold the token creator role on itself until granted. Grant it:`,
      grantCommand(target.serviceAccount, `serviceAccount:${target.serviceAccount}`, TOKEN_CREATOR),
    ].join('\n');
  }
  if (target.delegates.length === 0) {
    const role = caller.federated
      ? WORKLOAD_IDENTITY_USER
      : permission === 'iam.serviceAccounts.getOpenIdToken'
        ? OPENID_TOKEN_CREATOR
        : TOKEN_CREATOR;
    return [
      `Fix: the caller ${caller.member} lacks ${permission} on ${target.serviceAccount} (or that account does not exist). Grant the caller ${role} on it:`,
      grantCommand(target.serviceAccount, caller.member, role),
      ...(caller.federated
        ? [
            '(the member above assumes the provider maps attribute.repository=assertion.repository; IAM grants can take a few minutes to apply)',
          ]
        : ['(IAM grants can take a few minutes to apply)']),
    ].join('\n');
  }
  const chain = [caller.member, ...target.delegates, target.serviceAccount];
  const hops = chain.slice(0, -1).map((from, i) => {
    const to = chain[i + 1] ?? target.serviceAccount;
    const member = i === 0 ? from : `serviceAccount:${from}`;
    return grantCommand(to, member, TOKEN_CREATOR);
  });
  return [
    `Fix: a hop in the delegation chain lacks ${permission}. Each account must hold ${TOKEN_CREATOR} on the next one (${chain.join(' → ')}):`,
    ...hops,
  ].join('\n');
}

function grantCommand(serviceAccount: string, member: string, role: string): string {
  return `  gcloud iam service-accounts add-iam-policy-binding ${serviceAccount} --member='${member}' --role=${role}`;
}
