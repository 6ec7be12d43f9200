import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExternalAccountSource, SubjectTokenSource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import { ActionError, messageOf } from '../errors.ts';
import type { IamCredentials } from '../google/iam-credentials.ts';
import { exchangeAtSts } from '../google/sts.ts';
import type { Http } from '../http/client.ts';
import { parseJsonObject } from '../json.ts';
import { checkedToken } from '../google/answer.ts';
import { redact, registerSecret } from '../secrets.ts';
import { renewing, type Credential } from './credential.ts';
import { impersonate } from './impersonation.ts';
import { googleFailure } from '../google/failure.ts';

/**
 * An `external_account` credentials file (what google-github-actions/auth writes with create_credentials_file): a
 * subject token read from a file or a URL, exchanged at STS. With `service_account_impersonation_url`, the ID token
 * comes straight from `generateIdToken` on that account with the federated token, which Google's client libraries
 * cannot do; the access token comes from `generateAccessToken` there.
 */
export function externalAccountCredential(
  source: ExternalAccountSource,
  endpoints: Endpoints,
  http: Http,
  iam: IamCredentials,
  now: () => number = Date.now,
): Credential {
  const federated: Credential = {
    principal: undefined,
    member: federatedMember(source.audience, endpoints.iamHost),
    federated: true,
    accessToken: renewing(async () => {
      const subject = source.subjectToken;
      if (subject.from === 'library')
        return { token: await libraryExchange(subject.kind, subject.file), expiresAt: now() + STS_LIFETIME_MS };
      return exchangeAtSts(
        http,
        {
          tokenUrl: source.tokenUrl,
          audience: source.audience,
          subjectToken: await readSubjectToken(subject, http),
          subjectTokenType: source.subjectTokenType,
          workforcePoolUserProject: source.workforcePoolUserProject,
        },
        now,
      );
    }, now),
  };
  return source.impersonate
    ? impersonate(federated, { serviceAccount: source.impersonate, delegates: [], origin: source.origin }, iam, now)
    : federated;
}

/** STS issues federated tokens for an hour; the library does not say when its token expires. */
const STS_LIFETIME_MS = 3600_000;

/** `principalSet://…/POOL/*` for a provider audience: the broadest member a grant could name. */
function federatedMember(audience: string, iamHost: string): string {
  const pool = /(projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/]+)\/providers\//.exec(audience)?.[1];
  return pool ? `principalSet://${iamHost}/${pool}/*` : `principalSet://${iamHost}/(the pool of ${audience})`;
}

/** AWS, executable and certificate sources, through google-auth-library, read from its own file next to this one. */
async function libraryExchange(kind: 'aws' | 'executable' | 'certificate', file: Readonly<Record<string, unknown>>): Promise<string> {
  let library: typeof import('./library-external-account.ts');
  try {
    // A runtime path esbuild leaves alone: the library stays out of the action's start-up.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- dist/ is CommonJS; this loads its sibling file
    library = (await Promise.resolve(require(join(__dirname, 'google-auth.cjs')))) as typeof library;
  } catch {
    // Running from source (src/, under the tests): the module itself. Its path is a variable so that the bundler
    // does not inline the library into the action.
    const fromSource = './library-external-account.ts';
    library = (await import(fromSource)) as typeof library;
  }
  try {
    const token = await library.libraryFederatedToken(kind, file);
    registerSecret(token);
    return token;
  } catch (error) {
    const message = redact(messageOf(error));
    throw new ActionError(
      `The external account's ${kind} credential source failed (google-auth-library): ${message}`,
      kind === 'executable'
        ? 'Fix: run the credential_source.executable.command by hand on the runner and check it prints a successful response.'
        : undefined,
    );
  }
}

async function readSubjectToken(source: Exclude<SubjectTokenSource, { from: 'library' }>, http: Http): Promise<string> {
  let text: string;
  if (source.from === 'file') {
    try {
      text = await readFile(source.path, 'utf8');
    } catch (error) {
      throw new ActionError(
        `The external_account credential_source.file ${source.path} cannot be read (${(error as { code?: string }).code ?? 'error'}).`,
      );
    }
  } else {
    text = await http.text({
      failure: googleFailure,
      what: 'Subject token request (credential_source.url)',
      method: 'GET',
      url: source.url,
      headers: source.headers,
    });
  }
  let token = text.trim();
  if (source.field) {
    const parsed = parseJsonObject(text);
    if (!parsed) throw new ActionError('The subject token source did not return a JSON object, but credential_source.format says json.');
    const value = parsed[source.field];
    if (typeof value !== 'string') {
      throw new ActionError(
        `The subject token source's JSON has no string field ${source.field} (credential_source.format.subject_token_field_name).`,
      );
    }
    token = value;
  }
  if (!token) throw new ActionError('The subject token source returned an empty token.');
  return checkedToken(token, 'subject', 'The subject token (credential_source)');
}
