// The action's post step (action.yml `post:`, run even when the job failed): stops the token agent the main step
// left running, removes its token file, and reports what it did. Without an agent (no keep_fresh), it does nothing.
import { readFileSync } from 'node:fs';
import { getState, setSecret } from '@actions/core';
import type { AgentStats } from './agent/stats.ts';
import { isRunningAgent, logTail, stopAgent } from './agent/launch.ts';
import { removeTokenFile } from './agent/token-file.ts';
import { ActionError, explain } from './errors.ts';
import { parseJsonObject } from './json.ts';
import { writeAgentSummary } from './publish.ts';
import { log } from './log.ts';
import { setMasker } from './secrets.ts';

export async function post(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  setMasker(setSecret);
  try {
    const state = parseJsonObject(getState('agent'));
    if (!state) return;
    const pid = Number(state['pid']);
    const text = (name: string): string => (typeof state[name] === 'string' ? state[name] : '');
    const [run, tokenFile, statsFile, logFile] = [text('run'), text('tokenFile'), text('statsFile'), text('logFile')];
    // Only a process that carries this run's id is signalled: the pid alone may by now be another job's agent.
    const wasRunning = isRunningAgent(pid, run);
    if (wasRunning) await stopAgent(pid, run, log.warning);
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
      // Ours to explain, and explained: it reads as written, not as an unexpected error.
      throw new ActionError(`The token agent stopped before the end of the job: ${why}.${tail}`);
    }
    if (report?.lastError) log.warning(`The token agent's last mint failed: ${report.lastError}`);
  } catch (error) {
    log.fail(explain(error));
  }
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

function readReport(path: string): AgentStats | undefined {
  try {
    return parseJsonObject(readFileSync(path, 'utf8')) as AgentStats | undefined;
  } catch {
    return undefined;
  }
}
