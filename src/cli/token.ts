import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../endpoints.ts';
import { readConfig, type InputReader } from '../inputs/index.ts';
import { createMinter } from '../pipeline.ts';
import { parseArgs, UsageError } from './args.ts';
import { CLI_VOCABULARY, FLAG_OF, TOKEN_FLAGS } from './vocabulary.ts';

/** Secrets read from the environment stay out of shell history and other users' process lists. */
const FROM_ENV: Partial<Record<string, string>> = {
  '--refresh-token': 'IAP_TOKEN_REFRESH_TOKEN',
  '--client-secret': 'IAP_TOKEN_CLIENT_SECRET',
};

export async function tokenCommand(argv: readonly string[], env: Env, log: (line: string) => void): Promise<string | number> {
  const exec = argv.indexOf('--exec');
  const command = exec === -1 ? undefined : argv.slice(exec + 1);
  if (command && (command[0] !== '--' || command.length < 2))
    throw new UsageError('--exec is followed by -- and the command to run: --exec -- COMMAND ARGS…');
  const { values } = parseArgs(exec === -1 ? argv : argv.slice(0, exec), { values: TOKEN_FLAGS.map((flag) => flag.slice(2)), flags: [] });
  const config = readConfig(flagInputs(values, env), withGcloudDefaults(env), CLI_VOCABULARY);
  const minter = createMinter(config, { env, report: cliReport(log) });
  const { token } = await minter.mint();
  if (!command) return token;
  return runWithToken(command.slice(1), token, env);
}

/** Progress and warnings on standard error. */
export function cliReport(log: (line: string) => void): { info: (line: string) => void; warning: (line: string) => void } {
  return { info: log, warning: (line) => log(`warning: ${line}`) };
}

/** Runs the command with IAP_TOKEN set, its standard streams the terminal's, and resolves with its exit code. */
function runWithToken([file = '', ...args]: readonly string[], token: string, env: Env): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit', env: { ...env, IAP_TOKEN: token } });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`--exec could not run ${file} (${error.code ?? error.message})`)),
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1)));
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return process.getBuiltinModule('node:os').constants.signals[signal];
}

/** The command line as `readConfig` reads inputs: each flag for its input, a file's text for credentials_json. */
export function flagInputs(values: Readonly<Record<string, string>>, env: Env): InputReader {
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
export function withGcloudDefaults(env: Env): Env {
  if (env['GOOGLE_APPLICATION_CREDENTIALS']) return env;
  const dir =
    process.platform === 'win32'
      ? join(env['APPDATA'] ?? '', 'gcloud')
      : join(env['CLOUDSDK_CONFIG'] ?? join(homedir(), '.config', 'gcloud'));
  const file = join(dir, 'application_default_credentials.json');
  return existsSync(file) ? { ...env, GOOGLE_APPLICATION_CREDENTIALS: file } : env;
}
