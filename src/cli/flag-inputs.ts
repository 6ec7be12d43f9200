import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../env.ts';
import type { InputReader } from '../inputs/index.ts';
import { CLI_VOCABULARY, FLAG_OF } from './vocabulary.ts';

// What every CLI command reads as its inputs: its flags, the secrets that stand in for flags from the environment,
// and gcloud's application default credentials where nothing else is given.

/**
 * Secrets the CLI reads from the environment, for the flag each stands in for: there they stay out of shell history
 * and other users' process lists. The one list of them: `--exec` keeps each from its command.
 */
const FROM_ENV = {
  '--refresh-token': 'IAP_TOKEN_REFRESH_TOKEN',
  '--client-secret': 'IAP_TOKEN_CLIENT_SECRET',
} as const;
type FromEnvFlag = keyof typeof FROM_ENV;

/** The CLI's environment without the secrets it read from it: the command gets the token, not what minted it. */
export function withoutSecrets(env: Env): Env {
  const secrets = new Set<string>(Object.values(FROM_ENV));
  return Object.fromEntries(Object.entries(env).filter(([name]) => !secrets.has(name)));
}

/** The command line as `readConfig` reads inputs: each flag for its input, a file's text for credentials_json. */
export function flagInputs(values: Readonly<Record<string, string>>, env: Env): InputReader {
  const fromEnv = fittingEnvValues(values, env);
  return (input) => {
    const flag = FLAG_OF[input];
    if (!flag) return undefined;
    const value = values[flag.slice(2)] ?? fromEnv[flag];
    if (value === undefined || input !== 'credentials_json') return value?.trim();
    try {
      return readFileSync(value, 'utf8');
    } catch (error) {
      throw CLI_VOCABULARY.complain(flag, `names ${value}, which cannot be read (${(error as { code?: string }).code ?? 'error'}).`);
    }
  };
}

/**
 * The environment's secrets that fit this command line. They are exported once for a shell (the README's login
 * section exports the client secret), so one that does not fit is ignored rather than an error: the refresh token
 * stands in only when no other credential flag is given, and the client secret only beside a refresh token. A flag
 * given explicitly is never ignored: the inputs' checks still name what does not go together.
 */
function fittingEnvValues(values: Readonly<Record<string, string>>, env: Env): Readonly<Record<string, string | undefined>> {
  const given = (flag: string) => values[flag.slice(2)] !== undefined;
  const read = (flag: FromEnvFlag) => env[FROM_ENV[flag]] || undefined;
  const refreshToken = given('--credentials-file') || given('--refresh-token') ? undefined : read('--refresh-token');
  const clientSecret = given('--refresh-token') || refreshToken !== undefined ? read('--client-secret') : undefined;
  return { '--refresh-token': refreshToken, '--client-secret': clientSecret };
}

/** Like Google's libraries on a workstation: gcloud's application default credentials when nothing else is set. */
export function withGcloudDefaults(env: Env): Env {
  if (env['GOOGLE_APPLICATION_CREDENTIALS']) return env;
  const dir =
    process.platform === 'win32'
      ? join(env['APPDATA'] ?? '', 'gcloud')
      : join(env['CLOUDSDK_CONFIG'] ?? join(homedir(), '.config', 'gcloud'));
  const file = join(dir, 'application_default_credentials.json');
  return existsSync(file) ? { ...env, GOOGLE_APPLICATION_CREDENTIALS: file } : env;
}
