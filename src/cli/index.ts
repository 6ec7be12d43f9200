#!/usr/bin/env node
// iap-token login | token | proxy | doctor: the action's modules for a person at a terminal. Standard output carries only the
// result (the token, or the refresh token with its instructions); progress and errors go to standard error.
import { explain, InputError } from '../errors.ts';
import { printable } from '../printable.ts';
import { redact, setMasker } from '../secrets.ts';
import { UsageError } from './args.ts';
import { DOCTOR_HELP, LOGIN_HELP, PROXY_HELP, TOKEN_HELP } from './help.ts';
import type { LogLine } from '../logger.ts';

const HELP = `Usage: iap-token <command> [options]

Commands:
  login   sign in with a desktop OAuth client and get a refresh token for the action
  token   print a token IAP accepts, for curl and scripts (or run a command with it: --exec)
  proxy   serve a local proxy to an app behind IAP that adds a fresh token to every request
  doctor  diagnose an app's IAP set-up: which token and audience get through, and how to fix what does not

Run iap-token <command> --help for its options.`;

type Command = (argv: readonly string[], env: NodeJS.ProcessEnv, log: LogLine) => Promise<string | number>;

/** Each command's code loads when it runs: `token` does not pay for the proxy's HTTP client, nor `proxy` for login. */
const COMMANDS: Record<string, { run: Command; help: string }> = {
  login: { run: async (...args) => (await import('./login.ts')).loginCommand(...args), help: LOGIN_HELP },
  token: { run: async (...args) => (await import('./token.ts')).tokenCommand(...args), help: TOKEN_HELP },
  proxy: { run: async (...args) => (await import('./proxy.ts')).proxyCommand(...args), help: PROXY_HELP },
  doctor: { run: async (...args) => (await import('./doctor.ts')).doctorCommand(...args), help: DOCTOR_HELP },
};

/** Set by the bundler from package.json (scripts/bundle.mjs); absent when run from the sources. */
declare const IAP_TOKEN_VERSION: string | undefined;
const VERSION = typeof IAP_TOKEN_VERSION === 'string' ? IAP_TOKEN_VERSION : 'development';

/** The oldest Node.js this runs on (package.json engines): process.getBuiltinModule came in 22.3. */
const OLDEST_NODE = [22, 3];

async function main(argv: string[]): Promise<number> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < (OLDEST_NODE[0] ?? 0) || (major === OLDEST_NODE[0] && minor < (OLDEST_NODE[1] ?? 0))) {
    process.stderr.write(`iap-token needs Node.js ${OLDEST_NODE.join('.')} or later; this is Node.js ${process.versions.node}.\n`);
    return 1;
  }
  // A terminal is not a runner's log: there are no masks to register, and ::add-mask:: lines would pollute stdout.
  setMasker(() => undefined);
  // Every line on standard error, whatever it quotes (a server's error, an argument), passes the one sanitiser: a
  // terminal acts on the escape sequences a hostile server could send (clipboard writes, links, screen clears).
  const log = (line: string) => process.stderr.write(`${printable(line)}\n`);
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(`iap-token ${VERSION}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    log(`iap-token: unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  // After `--` come another command's arguments (token --exec -- CMD ARGS), never ours.
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  try {
    const output = await command.run(rest, process.env, log);
    // A number is the exit code of a command the CLI ran (or of a proxy that was stopped); it printed what it had to.
    if (typeof output === 'number') return output;
    process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      log(`iap-token ${name}: ${redact(error.message)}\n\n${command.help}`);
      return 2;
    }
    // A flag or an environment variable to change: the message names it, and says what is accepted.
    if (error instanceof InputError) {
      log(`iap-token ${name}: ${redact(error.message)}`);
      return 2;
    }
    log(`iap-token ${name}: ${redact(explain(error))}`);
    return 1;
  }
}

// Exit when done: a proxy that never completes a CONNECT would otherwise hold the process open.
void main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))));
