import { spawn, type ChildProcess } from 'node:child_process';
import type { Env } from '../env.ts';
import { readConfig } from '../inputs/index.ts';
import { createMinter } from '../pipeline.ts';
import { parseArgs, UsageError } from './args.ts';
import { flagInputs, withGcloudDefaults, withoutSecrets } from './flag-inputs.ts';
import { CLI_VOCABULARY, TOKEN_FLAGS } from './vocabulary.ts';
import { lineLogger } from '../logger.ts';
import type { LogLine } from '../logger.ts';

/** The signals a person or a supervisor stops a command with: while --exec's command runs, they are its. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export async function tokenCommand(argv: readonly string[], env: Env, log: LogLine): Promise<string | number> {
  const exec = argv.indexOf('--exec');
  const command = exec === -1 ? undefined : argv.slice(exec + 1);
  if (command && (command[0] !== '--' || command.length < 2))
    throw new UsageError('--exec is followed by -- and the command to run: --exec -- COMMAND ARGS…');
  const { values } = parseArgs(exec === -1 ? argv : argv.slice(0, exec), { values: TOKEN_FLAGS.map((flag) => flag.slice(2)), flags: [] });
  const config = readConfig(flagInputs(values, env), withGcloudDefaults(env), CLI_VOCABULARY);
  const minter = createMinter(config, { env, report: lineLogger(log) });
  const { token } = await minter.mint();
  if (!command) return token;
  return runWithToken(command.slice(1), token, env);
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
