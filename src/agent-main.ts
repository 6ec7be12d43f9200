// The token agent's process (dist/agent.cjs), started in the background by the action (src/agent/launch.ts). It reads
// its launch from standard input, says on file descriptor 3 when it is ready (or why it cannot be), logs to the file
// its standard output was given, writes its figures for the post step, and stops cleanly on SIGTERM. Its arguments
// (`--run ID`) are not read here: they are there for the post step to recognise this process by (isRunningAgent).
import { createWriteStream, readFileSync } from 'node:fs';
import { startAgent, type RunningAgent } from './agent/agent.ts';
import type { AgentLaunch } from './agent/launch.ts';
import type { AgentStats } from './agent/stats.ts';
import { writeFileAtomically } from './agent/token-file.ts';
import { explain } from './errors.ts';
import { ACTION_VOCABULARY, readConfig, type InputName } from './inputs/index.ts';
import { lineLogger } from './logger.ts';
import { redact, registerSecret, setMasker } from './secrets.ts';

// Its log is a file, not the runner's log: no masks to register; every line is still redacted.
setMasker(() => undefined);
const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${redact(line)}\n`);
const status = createWriteStream('', { fd: 3 });

let agent: RunningAgent | undefined;
let statsFile = '';

function report(extra: Pick<AgentStats, 'stoppedAt' | 'died'> = {}): void {
  if (!agent || !statsFile) return;
  const figures: AgentStats = { ...agent.stats(), pid: process.pid, ...extra };
  writeFileAtomically(statsFile, JSON.stringify(figures));
}

async function main(): Promise<void> {
  const launch = JSON.parse(readFileSync(0, 'utf8')) as AgentLaunch;
  registerSecret(launch.initial.token);
  statsFile = launch.statsFile;
  const read = readConfig((name: InputName) => launch.inputs[name], process.env, ACTION_VOCABULARY);
  // The step already found the audience (from the app's sign-in redirect), or token_type auto fell back to an access
  // token: the agent mints the same kind for the same audience, without a doctor of its own.
  const fellBack = launch.initial.kind !== read.tokenType;
  const config = {
    ...read,
    doctor: undefined,
    ...(read.audienceFrom || fellBack ? { audience: launch.initial.audience, audienceFrom: undefined } : {}),
    ...(fellBack ? { tokenType: launch.initial.kind, auto: false } : {}),
  };
  const initial = { ...launch.initial, expiresAt: new Date(launch.initial.expiresAt) };
  agent = await startAgent({
    config,
    env: process.env,
    report: lineLogger(log),
    initial,
    tokenFile: launch.tokenFile,
    caFile: launch.caFile,
    onChange: () => report(),
  });
  log(
    `Token agent ready (pid ${process.pid})${agent.proxyUrl ? `; proxying ${agent.proxyUrl} → ${config.agent?.proxy?.target ?? ''}` : ''}.`,
  );
  status.end(`${JSON.stringify({ ready: true, proxyUrl: agent.proxyUrl, forwardProxyUrl: agent.forwardProxyUrl, spki: agent.spki })}\n`);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log(`Stopping (${signal}).`);
    void (agent?.stop() ?? Promise.resolve()).finally(() => {
      report({ stoppedAt: new Date().toISOString() });
      process.exit(0);
    });
  });
}

process.on('uncaughtException', (error) => {
  const why = redact(explain(error));
  log(`The agent failed: ${why}`);
  report({ died: why });
  process.exit(1);
});

main().catch((error: unknown) => {
  const why = redact(explain(error));
  log(`Could not start: ${why}`);
  status.end(`${JSON.stringify({ error: why })}\n`, () => process.exit(1));
});
