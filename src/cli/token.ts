import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createCredential } from '../credentials/index.ts';
import { Http } from '../http.ts';
import { IamCredentials } from '../iam.ts';
import { InputError } from '../errors.ts';
import { readConfig } from '../inputs.ts';
import { mintToken } from '../tokens/mint.ts';
import { parseArgs, UsageError } from './args.ts';

export const TOKEN_HELP = `Usage: iap-token token --audience AUDIENCE [options]

Prints a token IAP accepts, and nothing else, on standard output:
  curl -H "Authorization: Bearer $(npx iap-token token --audience AUDIENCE)" https://app.example.com/

Options:
  --audience AUDIENCE        the app's OAuth client ID; with --token-type signed_jwt, its URL (https://HOST/*)
  --token-type TYPE          id_token (default) or signed_jwt
  --lifetime SECONDS         a signed JWT's lifetime, 60 to 3600
  --credentials-file PATH    a credentials JSON file of any type (service-account key, authorized_user, …)
  --refresh-token TOKEN      a refresh token, with --client-id and --client-secret (see: iap-token login);
                             better: IAP_TOKEN_REFRESH_TOKEN in the environment
  --client-id ID             the desktop OAuth client that issued the refresh token
  --client-secret SECRET     better: IAP_TOKEN_CLIENT_SECRET in the environment
  --service-account EMAIL    mint the token for this service account (impersonation)
  --delegates EMAILS         the delegation chain to it, comma-separated
  --help

With no credential option: GOOGLE_APPLICATION_CREDENTIALS, else gcloud's application default credentials
(gcloud auth application-default login), else the metadata server. The same code as the GitHub Action mints it.`;

/** The options and the action input each stands for: the CLI runs the action's own validation on them. */
const INPUT_OF: Record<string, string> = {
  audience: 'audience',
  'token-type': 'token_type',
  lifetime: 'lifetime',
  'refresh-token': 'refresh_token',
  'client-id': 'oauth_client_id',
  'client-secret': 'oauth_client_secret',
  'service-account': 'service_account',
  delegates: 'delegates',
};

export async function tokenCommand(argv: readonly string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<string> {
  const values: Record<string, string> = {
    ...parseArgs(argv, { values: [...Object.keys(INPUT_OF), 'credentials-file'], flags: [] }).values,
  };
  if (!values['audience']) throw new UsageError('--audience is required');
  // Secrets from the environment stay out of shell history and other users' process lists.
  const fromEnv: Record<string, string | undefined> = {
    'refresh-token': env['IAP_TOKEN_REFRESH_TOKEN'],
    'client-secret': env['IAP_TOKEN_CLIENT_SECRET'],
  };
  for (const [option, value] of Object.entries(fromEnv)) if (values[option] === undefined && value) values[option] = value;
  const inputs: Record<string, string> = { INPUT_EXPORT_VARIABLE: '' };
  for (const [option, input] of Object.entries(INPUT_OF)) {
    if (values[option] !== undefined) inputs[`INPUT_${input.toUpperCase()}`] = values[option];
  }
  const file = values['credentials-file'];
  if (file !== undefined) {
    try {
      inputs['INPUT_CREDENTIALS_JSON'] = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--credentials-file ${file} cannot be read (${(error as { code?: string }).code ?? 'error'})`);
    }
  }
  // Only the options given here count as inputs, whatever INPUT_* variables the shell may hold.
  const ambient = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('INPUT_')));
  const config = readWithOptionNames({ ...withGcloudDefaults(ambient), ...inputs });
  const http = new Http({ log });
  const iam = new IamCredentials(http, config.endpoints.iamcredentials);
  const credential = createCredential(config.source, { endpoints: config.endpoints, http, iam, env });
  const minted = await mintToken(config, credential, iam, { info: log, warning: (line) => log(`warning: ${line}`) });
  return minted.token;
}

/** The action's input checks, with its errors in the CLI's words: `--token-type` where the action says token_type. */
function readWithOptionNames(env: NodeJS.ProcessEnv): ReturnType<typeof readConfig> {
  try {
    return readConfig(env);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const names = new Map<string, string>(Object.entries(INPUT_OF).map(([option, input]) => [input, option]));
    names.set('credentials_json', 'credentials-file');
    // "Input audience: is …" and "… set token_type: signed_jwt" read as options here.
    let message = error.message.replace(/^Input ([a-z_]+): /, (whole, input: string) =>
      names.has(input) ? `--${names.get(input)}: ` : whole,
    );
    for (const [input, option] of names) message = message.replaceAll(` ${input}: `, ` --${option} `);
    throw new UsageError(message);
  }
}

/** Like Google's libraries on a workstation: gcloud's application default credentials when nothing else is set. */
function withGcloudDefaults(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env['GOOGLE_APPLICATION_CREDENTIALS']) return env;
  const dir =
    process.platform === 'win32'
      ? join(env['APPDATA'] ?? '', 'gcloud')
      : join(env['CLOUDSDK_CONFIG'] ?? join(homedir(), '.config', 'gcloud'));
  const file = join(dir, 'application_default_credentials.json');
  return existsSync(file) ? { ...env, GOOGLE_APPLICATION_CREDENTIALS: file } : env;
}
