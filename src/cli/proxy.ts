import { startAgent } from '../agent/agent.ts';
import type { Env } from '../endpoints.ts';
import { readConfig } from '../inputs/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { cliReport, flagInputs, withGcloudDefaults } from './token.ts';
import { CLI_VOCABULARY, TOKEN_FLAGS } from './vocabulary.ts';

export const PROXY_HELP = `Usage: iap-token proxy --to ORIGIN [--audience AUDIENCE] [--token-type TYPE] [--listen 127.0.0.1:PORT]
                       [--header authorization|proxy-authorization] [credential options]

Serves http://127.0.0.1:PORT and sends every request to ORIGIN through IAP with a token it keeps fresh (it mints
again before each one expires), for test suites, load tests and tools that cannot set a header:
  iap-token proxy --to https://app.example.com --token-type signed_jwt
  curl http://127.0.0.1:PORT/api/health
It runs until Ctrl-C (SIGINT) or SIGTERM. GET /.iap-token/healthz answers whether it has a token.

Options:
  --to ORIGIN                the app's origin, https://HOST[:PORT], no path
  --audience AUDIENCE        the app's OAuth client ID; with --token-type signed_jwt it defaults to ORIGIN/*
  --token-type TYPE          id_token (default) or signed_jwt
  --listen HOST:PORT         where to listen (default 127.0.0.1:0, any free port); another address than loopback
                             lets anyone who reaches it through IAP as you
  --header NAME              authorization (default), or proxy-authorization for apps that read their own
                             Authorization header (the client's is then passed through untouched)
  --lifetime, --credentials-file, --refresh-token, --client-id, --client-secret, --service-account, --delegates:
                             as for iap-token token
  --help`;

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
