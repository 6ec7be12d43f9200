// The token agent: one engine behind two front doors (the action's background process, `iap-token proxy`). It holds
// the credential in memory, re-mints with the same pipeline as the action before each token expires, keeps a token
// file fresh, and serves the authenticating proxies asked for. Its phases are cloud-sql-proxy's: set up (the keeper
// and its first token), serve (each proxy, src/agent/serve.ts), close (everything, in reverse).
import type { Config } from '../config.ts';
import type { Env } from '../env.ts';
import type { Logger } from '../logger.ts';
import { createMinter } from '../pipeline.ts';
import type { MintedToken } from '../tokens/check.ts';
import { TokenKeeper } from './keeper.ts';
import { serveForwardProxy, serveReverseProxy, type Served, type Serving } from './serve.ts';
import { Tally, type AgentStats } from './stats.ts';
import { writeTokenFile } from './token-file.ts';

export interface AgentOptions {
  readonly config: Config;
  readonly env: Env;
  readonly report: Logger;
  /** The token the action's step already minted, so that the agent starts without a request. */
  readonly initial?: MintedToken | undefined;
  /** Keep the current token in this file (mode 0600, replaced atomically). */
  readonly tokenFile?: string | undefined;
  /** Where to write the forward proxy's CA certificate (PEM), for browsers to trust. */
  readonly caFile?: string | undefined;
  /** Told whenever the figures change (the action writes them to a file the post step reads). */
  readonly onChange?: (stats: AgentStats) => void;
}

export interface RunningAgent {
  readonly proxyUrl: string | undefined;
  readonly forwardProxyUrl: string | undefined;
  /** base64 SHA-256 of the key of every certificate the forward proxy presents: Chromium's --ignore-certificate-errors-spki-list. */
  readonly spki: string | undefined;
  readonly current: () => Promise<MintedToken>;
  stats(): AgentStats;
  stop(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const serving = await setUp(options);
  const served: Served[] = [];
  const close = async (): Promise<void> => {
    serving.keeper.stop();
    await Promise.all(served.map((proxy) => proxy.close()));
  };
  let proxyUrl: string | undefined;
  let forwardProxyUrl: string | undefined;
  let spki: string | undefined;
  try {
    const { proxy, forward } = options.config.agent ?? {};
    if (proxy) {
      const reverse = await serveReverseProxy(serving, proxy);
      served.push(reverse);
      proxyUrl = reverse.url;
    }
    if (forward) {
      const browsers = await serveForwardProxy(serving, forward, options.caFile);
      served.push(browsers);
      forwardProxyUrl = browsers.url;
      spki = browsers.spki;
    }
  } catch (error) {
    await close();
    throw error;
  }
  serving.changed();
  return { proxyUrl, forwardProxyUrl, spki, current: () => serving.keeper.current(), stats: serving.stats, stop: close };
}

/** The set-up: the minter, the keeper with its first token (the token file written), the figures. */
async function setUp(options: AgentOptions): Promise<Serving & { readonly stats: () => AgentStats }> {
  const { config, env, report, tokenFile } = options;
  const tally = new Tally(new Date());
  const minter = createMinter(config, { env, report });
  let changed = (): void => undefined;
  const keeper = new TokenKeeper({
    mint: () => minter.mint(),
    initial: options.initial,
    onToken: (minted) => {
      // A token file that cannot be written (a later step removed its folder) must not stop the proxy's tokens.
      try {
        if (tokenFile) writeTokenFile(tokenFile, minted.token);
      } catch (error) {
        report.warning(`Could not write the token file ${tokenFile ?? ''}: ${(error as { code?: string }).code ?? String(error)}`);
      }
      changed();
    },
    log: report.info,
  });
  const stats = (): AgentStats => tally.stats(keeper.stats());
  changed = () => options.onChange?.(stats());
  try {
    await keeper.start();
  } catch (error) {
    keeper.stop();
    throw error;
  }
  return { config, env, report, keeper, tally, stats, changed: () => changed() };
}
