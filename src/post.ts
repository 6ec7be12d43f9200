// The action's post step (action.yml `post:`, run even when the job failed): stops the token agent the main step
// left running, removes its token file, and reports what it did. Without an agent (no keep_fresh), it does nothing.
import { existsSync, readFileSync } from 'node:fs';
import { getState, setSecret } from '@actions/core';
import type { AgentReport } from './agent-main.ts';
import { logTail } from './agent/launch.ts';
import { removeTokenFile } from './agent/token-file.ts';
import { explain } from './errors.ts';
import { parseJsonObject } from './json.ts';
import { writeAgentSummary } from './publish.ts';
import { log } from './log.ts';
import { setMasker } from './secrets.ts';

/** How long the agent has to stop after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

export async function post(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  setMasker(setSecret);
  try {
    const state = parseJsonObject(getState('agent'));
    if (!state) return;
    const pid = Number(state['pid']);
    const text = (name: string): string => (typeof state[name] === 'string' ? state[name] : '');
    const [tokenFile, statsFile, logFile] = [text('tokenFile'), text('statsFile'), text('logFile')];
    const wasRunning = isOurAgent(pid);
    if (wasRunning) await stop(pid);
    const report = readReport(statsFile);
    const tail = logTail(logFile);
    showLog(logFile);
    if (tokenFile) removeTokenFile(tokenFile);
    if (report) await writeAgentSummary(report, env);
    if (report) {
      log.info(
        `Token agent: ${report.refreshes} refresh(es), ${report.requests} request(s) proxied, ${report.mintFailures} failed mint(s).`,
      );
    }
    if (!wasRunning) {
      const why = report?.died ?? (report?.stoppedAt ? 'it was stopped by a signal from outside the action' : 'no reason was recorded');
      throw new Error(`The token agent stopped before the end of the job: ${why}.${tail}`);
    }
    if (report?.lastError) log.warning(`The token agent's last mint failed: ${report.lastError}`);
  } catch (error) {
    log.fail(explain(error));
  }
}

/** Alive, and (where /proc tells) still our agent rather than a process that reused its id. */
function isOurAgent(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  return !existsSync(cmdline) || readFileSync(cmdline, 'utf8').includes('agent.cjs');
}

async function stop(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (const started = Date.now(); Date.now() - started < STOP_TIMEOUT_MS;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!isOurAgent(pid)) return;
  }
  log.warning(`The token agent did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it.`);
  process.kill(pid, 'SIGKILL');
}

/** The agent's own log (refreshes, refusals; redacted when written), folded in the post step's log. */
function showLog(path: string, most = 500): void {
  let lines: string[];
  try {
    lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  } catch {
    return;
  }
  log.group(`Token agent log (${lines.length} lines${lines.length > most ? `, the last ${most}` : ''})`, lines.slice(-most));
}

function readReport(path: string): AgentReport | undefined {
  try {
    return parseJsonObject(readFileSync(path, 'utf8')) as AgentReport | undefined;
  } catch {
    return undefined;
  }
}
