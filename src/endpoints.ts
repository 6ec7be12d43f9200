import type { Complain } from './errors.ts';
import type { Env } from './env.ts';
import { carriesTokens } from './urls.ts';

/**
 * Where each Google API lives. The default comes from the `universe` input; `GHA_ENDPOINT_OVERRIDE_<api>` replaces one
 * API's base, the convention google-github-actions/auth set, so private endpoints (and our fake Google) work.
 */
export interface Endpoints {
  /** OAuth 2.0 token endpoint base: `POST {oauth2}/token`. */
  readonly oauth2: string;
  /** Security Token Service base: `POST {sts}/token`. */
  readonly sts: string;
  /** IAM Service Account Credentials base: `{iamcredentials}/projects/-/serviceAccounts/…`. */
  readonly iamcredentials: string;
  /** IAP's admin API base: `{iap}/{resource}:iapSettings`, `:getIamPolicy` (read by the doctor). */
  readonly iap: string;
  /** Google's sign-in (authorization endpoint `{accounts}/o/oauth2/v2/auth`), for the CLI's login. */
  readonly accounts: string;
  /** The host that names IAM resources in federation audiences: `//iam.{universe}/projects/…`. */
  readonly iamHost: string;
  /** The APIs whose base an environment variable replaced. */
  readonly overridden: ReadonlySet<string>;
}

const OVERRIDE_PREFIX = 'GHA_ENDPOINT_OVERRIDE_';

const APIS = ['oauth2', 'sts', 'iamcredentials', 'iap', 'accounts'] as const;

export function resolveEndpoints(universe: string, env: Env, complain: Complain): Endpoints {
  const overrides = new Map(
    APIS.flatMap((api) => {
      const value = override(env, api, complain);
      return value ? [[api, value] as const] : [];
    }),
  );
  return {
    oauth2: overrides.get('oauth2') ?? `https://oauth2.${universe}`,
    sts: overrides.get('sts') ?? `https://sts.${universe}/v1`,
    iamcredentials: overrides.get('iamcredentials') ?? `https://iamcredentials.${universe}/v1`,
    iap: overrides.get('iap') ?? `https://iap.${universe}/v1`,
    // Sign-in lives on accounts.google.com in every universe that has it.
    accounts: overrides.get('accounts') ?? 'https://accounts.google.com',
    iamHost: `iam.${universe}`,
    overridden: new Set(overrides.keys()),
  };
}

function override(env: Env, api: string, complain: Complain): string | undefined {
  const name = OVERRIDE_PREFIX + api;
  const value = env[name]?.trim();
  if (!value) return undefined;
  checkEndpointUrl(value, name, complain);
  return value.replace(/\/+$/, '');
}

/**
 * Tokens travel to these URLs, so they must be HTTPS. Plain HTTP is allowed only to this machine (a local fake or a
 * test double); the metadata server, plain HTTP by design, is handled by its own client.
 */
export function checkEndpointUrl(value: string, source: string, complain: Complain): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw complain(source, 'is not a URL; expected https://host[/path]');
  }
  if (carriesTokens(url)) return url;
  throw complain(source, `must be an https:// URL (http:// is accepted only for localhost), got ${url.protocol}//${url.host}`);
}

/**
 * A URL that a credentials file names (a key's token_uri, an external account's token_url, …), held to the same rule:
 * the file's contents are as untrusted as an environment variable. The error names the input the file came from (as
 * the front door spells it: credentials_json, --credentials-file, GOOGLE_APPLICATION_CREDENTIALS), then the field.
 */
export function checkFileUrl(value: string, input: string, field: string, complain: Complain): URL {
  return checkEndpointUrl(value, field, (name, problem) => complain(input, `${name} ${problem}`));
}
