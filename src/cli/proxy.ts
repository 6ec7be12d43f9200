import { startAgent } from '../agent/agent.ts';
import type { Env } from '../endpoints.ts';
import { readConfig } from '../inputs/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { cliReport, flagInputs, withGcloudDefaults } from './token.ts';
import { CLI_VOCABULARY, TOKEN_FLAGS } from './vocabulary.ts';

const PROXY_FLAGS = ['--to', '--listen', '--header'];

export async function proxyCommand(argv: readonly string[], env: Env, log: (line: string) => void): Promise<number> {
  const { values } = parseArgs(argv, { values: [...TOKEN_FLAGS, ...PROXY_FLAGS].map((flag) => flag.slice(2)), flags: [] });
  if (!values['to']) throw new UsageError('--to is required: the origin of the app behind IAP, such as https://app.example.com');
  const config = readConfig(flagInputs(values, env), withGcloudDefaults(env), CLI_VOCABULARY);
  const agent = await startAgent({ config, env, report: cliReport(log) });
  log(`Proxying ${agent.proxyUrl ?? ''} → ${config.agent?.proxy?.target ?? ''}`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await agent.stop();
  const stats = agent.stats();
  log(`Stopped (${signal}): ${stats.requests} request(s) proxied, ${stats.refreshes} refresh(es).`);
  return 0;
}
