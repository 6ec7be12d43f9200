import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from '../agent/agent.ts';
import type { Env } from '../env.ts';
import { readConfig } from '../inputs/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { flagInputs, withGcloudDefaults } from './flag-inputs.ts';
import { CLI_VOCABULARY, TOKEN_FLAGS } from './vocabulary.ts';
import { lineLogger } from '../logger.ts';
import type { LogLine } from '../logger.ts';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const PROXY_FLAGS = ['--to', '--listen', '--header', '--host', '--max-connections', '--response-timeout', '--tunnel-idle-timeout'];

export async function proxyCommand(argv: readonly string[], env: Env, log: LogLine): Promise<number> {
  const { values, flags } = parseArgs(argv, {
    values: [...TOKEN_FLAGS, ...PROXY_FLAGS].map((flag) => flag.slice(2)),
    flags: ['forward'],
    repeatable: ['host'],
  });
  const forward = flags.has('forward');
  if (forward && (values['to'] || !values['host'])) {
    throw new UsageError('--forward takes --host HOST (once per host, or *.example.com), not --to: it proxies a browser to those hosts');
  }
  if (!forward && values['host']) throw new UsageError('--host goes with --forward');
  if (!forward && !values['to'])
    throw new UsageError('--to is required: the origin of the app behind IAP, such as https://app.example.com');
  const config = readConfig(flagInputs(values, env), withGcloudDefaults(env), CLI_VOCABULARY);
  // The CA certificate a browser is told to trust: in a folder of this user's, removed when the proxy stops.
  const dir = forward ? mkdtempSync(join(tmpdir(), 'iap-token-proxy-')) : undefined;
  const caFile = dir ? join(dir, 'ca.pem') : undefined;
  // Ctrl-C, a service manager's stop, or the terminal closing: each stops the proxy the same way, summary and all.
  // Listened for before anything starts, so that a signal as soon as the proxy says where it listens is not missed.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    for (const name of STOP_SIGNALS) process.once(name, resolve);
  });
  const agent = await startAgent({ config, env, report: lineLogger(log), caFile }).catch((error: unknown) => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  if (agent.forwardProxyUrl) {
    log(`Forward proxy ${agent.forwardProxyUrl} (CA: ${caFile ?? ''})`);
    log(`Chromium: --proxy-server=${agent.forwardProxyUrl} --ignore-certificate-errors-spki-list=${agent.spki ?? ''}`);
  } else log(`Proxying ${agent.proxyUrl ?? ''} → ${config.agent?.proxy?.target ?? ''}`);
  const signal = await stopped;
  for (const name of STOP_SIGNALS) process.removeAllListeners(name);
  await agent.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const stats = agent.stats();
  log(`Stopped (${signal}): ${stats.requests} request(s) proxied, ${stats.refreshes} refresh(es).`);
  return 0;
}
