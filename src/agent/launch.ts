import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Env } from '../env.ts';
import { ActionError } from '../errors.ts';
import { Http } from '../http/client.ts';
import { HEALTH_PATH } from '../http/health.ts';
import { redact, registerSecret } from '../secrets.ts';
import type { MintedToken } from '../tokens/check.ts';
import { removeTokenFile, tokenFilePath } from './token-file.ts';
import type { LogLine } from '../logger.ts';

// Starts the token agent as a background process for the rest of the job (keep_fresh, proxy_to). The step must be
// able to end while the agent runs: the runner waits for every process holding the step's standard output, so the
// agent writes to its own log file and gets its settings through a pipe that is closed once it is ready. The
// credential reaches it through that pipe too, never through a file.

/** What the agent's process is handed on its standard input. */
export interface AgentLaunch {
  /**
   * The inputs as the step read them (from the front door, src/main.ts), so that the agent validates and mints
   * exactly as the step did.
   */
  readonly inputs: Readonly<Record<string, string | undefined>>;
  readonly initial: { token: string; kind: MintedToken['kind']; audience: string; principal: string; expiresAt: string };
  readonly tokenFile: string;
  readonly statsFile: string;
  readonly caFile: string;
}

/** What the step and the post step know of a running agent (GITHUB_STATE: no secret). */
export interface AgentHandle {
  readonly pid: number;
  /** This run's id, in the agent's command line (`--run ID`): how the post step tells it from a process that reused its pid. */
  readonly run: string;
  readonly tokenFile: string;
  readonly statsFile: string;
  readonly logFile: string;
  readonly proxyUrl: string | undefined;
  readonly forwardProxyUrl: string | undefined;
  /** The forward proxy's CA certificate (PEM), when there is a forward proxy. */
  readonly caFile: string | undefined;
  /** base64 SHA-256 of the forward proxy's certificate key, for Chromium's --ignore-certificate-errors-spki-list. */
  readonly spki: string | undefined;
}

/**
 * A young generation of at most 4 MB: under load V8 grows it to 64 MB and keeps it, so a proxy that holds nothing per
 * request would sit near 210 MB; with this it stays near 110 MB at the same throughput (npm run bench).
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=4'];

/** How long the agent may take to say it is ready (its first token is the step's, so no request is needed). */
const READY_TIMEOUT_MS = 30_000;

/** How long the agent has to stop after SIGTERM (it drains its proxies) before it is killed, and how often to look. */
const STOP_TIMEOUT_MS = 10_000;
const STOP_POLL_MS = 100;

/** The agent's argument that names its run. Not a secret: an identity, which only this run's agent carries. */
const RUN_FLAG = '--run';

export async function launchAgent(inputs: AgentLaunch['inputs'], env: Env, minted: MintedToken, log: LogLine): Promise<AgentHandle> {
  const run = randomBytes(16).toString('hex');
  const tokenFile = tokenFilePath(env['RUNNER_TEMP'] || tmpdir());
  const dir = dirname(tokenFile);
  const statsFile = join(dir, 'agent.json');
  const logFile = join(dir, 'agent.log');
  const caFile = join(dir, 'ca.pem');
  const launch: AgentLaunch = {
    inputs,
    initial: {
      token: minted.token,
      kind: minted.kind,
      audience: minted.audience,
      principal: minted.principal,
      expiresAt: minted.expiresAt.toISOString(),
    },
    tokenFile,
    statsFile,
    caFile,
  };
  const logFd = openSync(logFile, 'a', 0o600);
  // The agent reads its inputs from the launch, not from INPUT_*: they are not left in a long-lived environment.
  const childEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('INPUT_')));
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, agentEntry(), RUN_FLAG, run], {
    detached: true,
    stdio: ['pipe', logFd, logFd, 'pipe'],
    env: childEnv,
    cwd: dir,
  });
  closeSync(logFd);
  child.stdin?.end(JSON.stringify(launch));
  try {
    const ready = await readiness(child, logFile);
    for (const url of [ready.proxyUrl, ready.forwardProxyUrl]) if (url) await healthy(url, log);
    return {
      pid: child.pid ?? 0,
      run,
      tokenFile,
      statsFile,
      logFile,
      proxyUrl: ready.proxyUrl,
      forwardProxyUrl: ready.forwardProxyUrl,
      caFile: ready.forwardProxyUrl ? caFile : undefined,
      spki: ready.spki,
    };
  } catch (error) {
    // Stopped before its file goes, so that it cannot write a token into it again on its way out.
    await stopAgent(child.pid ?? 0, run, log);
    removeTokenFile(tokenFile);
    throw error;
  } finally {
    // The step must not wait for the agent: drop every handle on it.
    (child.stdio[3] as NodeJS.ReadableStream | null)?.removeAllListeners();
    (child.stdio[3] as { destroy?: () => void } | null)?.destroy?.();
    child.removeAllListeners();
    child.unref();
  }
}

/**
 * Alive, and the agent of this run: once a process has gone, its id can be reused (by another job's agent, on a
 * runner that runs several), so the process must also carry this run's id in its command line.
 */
export function isRunningAgent(pid: number, run: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !run) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const args = commandLine(pid);
  // Windows has neither /proc nor ps: a live process with the id is taken for the agent (issue 26 will check there).
  if (args === undefined) return true;
  return args.some((arg, i) => arg === RUN_FLAG && args[i + 1] === run);
}

/**
 * The process's arguments: from /proc where there is one (Linux; a zombie's are empty), else from ps (macOS, the
 * BSDs), split at spaces (the agent's own arguments have none); none for a process that is gone; undefined on Windows.
 */
function commandLine(pid: number): string[] | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    if (existsSync('/proc/self/cmdline')) return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const text = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], {
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return text.trim().split(/\s+/);
  } catch {
    // Gone (ps exits 1 for a process it cannot find), or not ours to read: not this run's agent either way.
    return [];
  }
}

/** SIGTERM, then wait (bounded) for it to go; SIGKILL if it has not. Never throws: it is called on the way out. */
export async function stopAgent(pid: number, run: string, warn: LogLine): Promise<void> {
  if (!isRunningAgent(pid, run)) return;
  signal(pid, 'SIGTERM');
  for (let waited = 0; waited < STOP_TIMEOUT_MS; waited += STOP_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS));
    if (!isRunningAgent(pid, run)) return;
  }
  warn(`The token agent did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it.`);
  signal(pid, 'SIGKILL');
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // It went between the check and the signal.
  }
}

/** dist/agent.cjs, beside the bundle that runs this. */
function agentEntry(): string {
  // Only the bundle (CommonJS) has __dirname; from the sources, there is no agent.cjs to start.
  const entry = join(typeof __dirname === 'string' ? __dirname : '.', 'agent.cjs');
  if (!existsSync(entry)) throw new ActionError(`The token agent (${entry}) is missing from this build of the action.`);
  return entry;
}

/** The agent's one line on its status pipe: ready (with the proxy's URL), or why it could not start. */
function readiness(
  child: ReturnType<typeof spawn>,
  logFile: string,
): Promise<{ proxyUrl: string | undefined; forwardProxyUrl: string | undefined; spki: string | undefined }> {
  return new Promise((resolve, reject) => {
    const status = child.stdio[3] as NodeJS.ReadableStream;
    let text = '';
    const timer = setTimeout(
      () => reject(new ActionError(`The token agent did not start within ${READY_TIMEOUT_MS / 1000} s.${logTail(logFile)}`)),
      READY_TIMEOUT_MS,
    );
    status.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (!text.includes('\n')) return;
      clearTimeout(timer);
      try {
        const answer = JSON.parse(text.slice(0, text.indexOf('\n'))) as {
          ready?: boolean;
          proxyUrl?: string;
          forwardProxyUrl?: string;
          spki?: string;
          error?: string;
        };
        if (answer.ready) {
          // A forward proxy that cannot tell users apart carries the run's credential in its URL: a secret here too.
          const password = answer.forwardProxyUrl ? new URL(answer.forwardProxyUrl).password : '';
          if (password) registerSecret(decodeURIComponent(password));
          resolve({ proxyUrl: answer.proxyUrl, forwardProxyUrl: answer.forwardProxyUrl, spki: answer.spki });
        } else reject(new ActionError(`The token agent could not start: ${redact(answer.error ?? 'no reason given')}`));
      } catch {
        reject(new ActionError(`The token agent answered something unexpected.${logTail(logFile)}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new ActionError(`The token agent exited (code ${String(code)}) before it was ready.${logTail(logFile)}`));
    });
  });
}

/** The step ends only once the proxy answers its health check, so that the next step can use it at once. */
async function healthy(proxyUrl: string, log: LogLine): Promise<void> {
  const http = new Http({ log });
  // A forward proxy that cannot tell users apart carries the run's credential in its URL: sent as the header.
  const url = new URL(proxyUrl);
  const credential = url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined;
  const { response } = await http.send({
    what: 'Token agent health check',
    method: 'GET',
    url: `${url.origin}${HEALTH_PATH}`,
    ...(credential ? { headers: { 'proxy-authorization': `Basic ${Buffer.from(credential).toString('base64')}` } } : {}),
    direct: true,
    retry: { attempts: 10, timeoutMs: 2_000, budgetMs: 10_000, retryable: (answer) => answer.status !== 200 },
  });
  if (response.status !== 200)
    throw new ActionError(`The proxy answered its health check with ${response.status}: ${redact(response.body.slice(0, 300))}`);
}

/** The last lines of the agent's log, for an error (the log holds no secret; it is redacted all the same). */
export function logTail(logFile: string, lines = 5): string {
  try {
    const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    return tail ? `\nThe agent's last log lines:\n${redact(tail)}` : '';
  } catch {
    return '';
  }
}
