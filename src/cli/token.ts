import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../endpoints.ts';
import { readConfig, type InputReader } from '../inputs/index.ts';
import { createMinter } from '../pipeline.ts';
import { parseArgs, UsageError } from './args.ts';
import { CLI_VOCABULARY, FLAG_OF, TOKEN_FLAGS } from './vocabulary.ts';

/**
 * Secrets the CLI reads from the environment, for the flag each stands in for: there they stay out of shell history
 * and other users' process lists. The one list of them: `--exec` keeps each from its command.
 */
const FROM_ENV = {
  '--refresh-token': 'IAP_TOKEN_REFRESH_TOKEN',
  '--client-secret': 'IAP_TOKEN_CLIENT_SECRET',
} as const;
type FromEnvFlag = keyof typeof FROM_ENV;

/** The signals a person or a supervisor stops a command with: while --exec's command runs, they are its. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

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

/**
 * Runs the command with IAP_TOKEN set, its standard streams the terminal's, and resolves with its exit code. A stop
 * signal sent to the CLI is passed on, and the CLI waits for the command to end: else `kill` or a supervisor would
 * end the CLI and leave the command running with the token.
 */
function runWithToken([file = '', ...args]: readonly string[], token: string, env: Env): Promise<number> {
  return new Promise((resolve, reject) => {
    // A listener also stops Node's default, which would end the CLI at once. Installed before the spawn, so that no
    // signal falls between the command starting and the CLI listening: listeners run from the event loop, by when
    // `child` is set.
    const forward = (signal: NodeJS.Signals) => {
      if (!sentToGroup(signal)) child.kill(signal);
    };
    const stopForwarding = () => FORWARDED.forEach((signal) => process.off(signal, forward));
    FORWARDED.forEach((signal) => process.on(signal, forward));
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: 'inherit', env: { ...withoutSecrets(env), IAP_TOKEN: token } });
    } catch (error) {
      stopForwarding();
      throw error;
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      stopForwarding();
      reject(new UsageError(`--exec could not run ${file} (${error.code ?? error.message})`));
    });
    child.on('exit', (code, signal) => {
      stopForwarding();
      resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
    });
  });
}

/** The CLI's environment without the secrets it read from it: the command gets the token, not what minted it. */
function withoutSecrets(env: Env): Env {
  const secrets = new Set<string>(Object.values(FROM_ENV));
  return Object.fromEntries(Object.entries(env).filter(([name]) => !secrets.has(name)));
}

/**
 * A terminal sends Ctrl-C (SIGINT) and its hang-up (SIGHUP) to its whole foreground process group, the command
 * included: passed on again, the command would get each twice (and some, such as Terraform, take a second interrupt
 * as "stop at once"). Where the CLI has a terminal those two are only waited out; SIGTERM, sent to one process, and
 * every signal where there is no terminal (a supervisor, CI), are passed on.
 */
function sentToGroup(signal: NodeJS.Signals): boolean {
  return signal !== 'SIGTERM' && Boolean(process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY);
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return process.getBuiltinModule('node:os').constants.signals[signal];
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
