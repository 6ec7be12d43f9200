import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../endpoints.ts';
import { readConfig, type InputReader } from '../inputs/index.ts';
import { createMinter } from '../pipeline.ts';
import { parseArgs } from './args.ts';
import { CLI_VOCABULARY, FLAG_OF } from './vocabulary.ts';

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

/** Secrets read from the environment stay out of shell history and other users' process lists. */
const FROM_ENV: Partial<Record<string, string>> = {
  '--refresh-token': 'IAP_TOKEN_REFRESH_TOKEN',
  '--client-secret': 'IAP_TOKEN_CLIENT_SECRET',
};

export async function tokenCommand(argv: readonly string[], env: Env, log: (line: string) => void): Promise<string> {
  const flags = Object.values(FLAG_OF).map((flag) => flag.slice(2));
  const { values } = parseArgs(argv, { values: flags, flags: [] });
  const config = readConfig(flagInputs(values, env), withGcloudDefaults(env), CLI_VOCABULARY);
  const minter = createMinter(config, { env, report: { info: log, warning: (line) => log(`warning: ${line}`) } });
  return (await minter.mint()).token;
}

/** The command line as `readConfig` reads inputs: each flag for its input, a file's text for credentials_json. */
function flagInputs(values: Readonly<Record<string, string>>, env: Env): InputReader {
  return (input) => {
    const flag = FLAG_OF[input];
    if (!flag) return undefined;
    const fromEnv = FROM_ENV[flag];
    const value = values[flag.slice(2)] ?? (fromEnv ? env[fromEnv] || undefined : undefined);
    if (value === undefined || input !== 'credentials_json') return value?.trim();
    try {
      return readFileSync(value, 'utf8');
    } catch (error) {
      throw CLI_VOCABULARY.complain(flag, `names ${value}, which cannot be read (${(error as { code?: string }).code ?? 'error'}).`);
    }
  };
}

/** Like Google's libraries on a workstation: gcloud's application default credentials when nothing else is set. */
function withGcloudDefaults(env: Env): Env {
  if (env['GOOGLE_APPLICATION_CREDENTIALS']) return env;
  const dir =
    process.platform === 'win32'
      ? join(env['APPDATA'] ?? '', 'gcloud')
      : join(env['CLOUDSDK_CONFIG'] ?? join(homedir(), '.config', 'gcloud'));
  const file = join(dir, 'application_default_credentials.json');
  return existsSync(file) ? { ...env, GOOGLE_APPLICATION_CREDENTIALS: file } : env;
}
