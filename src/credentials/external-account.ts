import { readFile } from 'node:fs/promises';
import type { ExternalAccountSource, SubjectTokenSource } from '../config.ts';
import type { Endpoints } from '../endpoints.ts';
import { ActionError } from '../errors.ts';
import type { Http } from '../http.ts';
import type { IamCredentials } from '../iam.ts';
import { registerSecret } from '../secrets.ts';
import { exchangeAtSts } from '../sts.ts';
import { once, type Credential } from './credential.ts';

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
): Credential {
  const federated: Credential = {
    principal: undefined,
    member: federatedMember(source.audience, endpoints.iamHost),
    federated: true,
    accessToken: once(async () =>
      exchangeAtSts(http, {
        tokenUrl: source.tokenUrl,
        audience: source.audience,
        subjectToken: await readSubjectToken(source.subjectToken, http),
        subjectTokenType: source.subjectTokenType,
        workforcePoolUserProject: source.workforcePoolUserProject,
      }),
    ),
  };
  const account = source.impersonate;
  if (!account) return federated;
  const target = { serviceAccount: account, delegates: [] };
  return {
    principal: account,
    member: `serviceAccount:${account}`,
    federated: false,
    accessToken: once(() => iam.generateAccessToken(federated, target)),
    idToken: (audience) => iam.generateIdToken(federated, target, audience, true),
  };
}

/** `principalSet://…/POOL/*` for a provider audience: the broadest member a grant could name. */
function federatedMember(audience: string, iamHost: string): string {
  const pool = /(projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/]+)\/providers\//.exec(audience)?.[1];
  return pool ? `principalSet://${iamHost}/${pool}/*` : `principalSet://${iamHost}/(the pool of ${audience})`;
}

async function readSubjectToken(source: SubjectTokenSource, http: Http): Promise<string> {
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
      what: 'Subject token request (credential_source.url)',
      method: 'GET',
      url: source.url,
      headers: source.headers,
    });
  }
  let token = text.trim();
  if (source.field) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ActionError(`The subject token source did not return JSON, but credential_source.format says json.`);
    }
    const value = (parsed as Record<string, unknown> | null)?.[source.field];
    if (typeof value !== 'string') {
      throw new ActionError(
        `The subject token source's JSON has no string field ${source.field} (credential_source.format.subject_token_field_name).`,
      );
    }
    token = value;
  }
  if (!token) throw new ActionError('The subject token source returned an empty token.');
  registerSecret(token);
  return token;
}
