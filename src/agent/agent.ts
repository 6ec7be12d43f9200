import type { Config } from '../config.ts';
import type { Env } from '../endpoints.ts';
import { startReverseProxy, type RunningProxy } from '../http/reverse-proxy.ts';
import { explainRefusal, iapRefusal, type IapRefusal } from '../iap/answers.ts';
import { createMinter } from '../pipeline.ts';
import type { MintedToken } from '../tokens/check.ts';
import type { Reporter } from '../tokens/mint.ts';
import { isLoopback } from '../urls.ts';
import { TokenKeeper } from './keeper.ts';
import { writeTokenFile } from './token-file.ts';

/**
 * The token agent: one engine behind two front doors (the action's background process, `iap-token proxy`). It holds
 * the credential in memory, re-mints with the same pipeline as the action before each token expires, keeps a token
 * file fresh, and serves the authenticating reverse proxy when one is asked for.
 */

export interface AgentOptions {
  readonly config: Config;
  readonly env: Env;
  readonly report: Reporter;
  /** The token the action's step already minted, so that the agent starts without a request. */
  readonly initial?: MintedToken | undefined;
  /** Keep the current token in this file (mode 0600, replaced atomically). */
  readonly tokenFile?: string | undefined;
  /** Told whenever the figures change (the action writes them to a file the post step reads). */
  readonly onChange?: (stats: AgentStats) => void;
}

export interface AgentStats {
  readonly startedAt: string;
  readonly refreshes: number;
  readonly mintFailures: number;
  /** Why the last mint failed, until one succeeds again (explained, never a secret). */
  readonly lastError: string | undefined;
  readonly expiresAt: string | undefined;
  readonly requests: number;
  readonly websockets: number;
  readonly upstreamErrors: number;
  /** IAP's refusals the proxy saw, by kind. */
  readonly refusals: Readonly<Partial<Record<IapRefusal, number>>>;
}

export interface RunningAgent {
  readonly proxyUrl: string | undefined;
  readonly current: () => Promise<MintedToken>;
  stats(): AgentStats;
  stop(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { config, env, report, tokenFile } = options;
  const startedAt = new Date().toISOString();
  const counts = { requests: 0, websockets: 0, upstreamErrors: 0 };
  const refusals: Partial<Record<IapRefusal, number>> = {};
  const minter = createMinter(config, { env, report });
  let changed = (): void => undefined;
  const keeper = new TokenKeeper({
    mint: () => minter.mint(),
    initial: options.initial,
    onToken: (minted) => {
      if (tokenFile) writeTokenFile(tokenFile, minted.token);
      changed();
    },
    log: report.info,
  });
  const stats = (): AgentStats => {
    const kept = keeper.stats();
    return {
      startedAt,
      refreshes: kept.refreshes,
      mintFailures: kept.failures,
      lastError: kept.lastError,
      expiresAt: kept.expiresAt?.toISOString(),
      ...counts,
      refusals: { ...refusals },
    };
  };
  changed = () => options.onChange?.(stats());
  try {
    await keeper.start();
  } catch (error) {
    keeper.stop();
    throw error;
  }

  let proxy: RunningProxy | undefined;
  const settings = config.agent?.proxy;
  if (settings) {
    if (!isLoopback(settings.host)) {
      report.warning(
        `The proxy listens on ${settings.host}: anyone who can reach that address passes IAP as ${(await keeper.current()).principal}.`,
      );
    }
    try {
      proxy = await startReverseProxy({
        target: new URL(settings.target),
        header: settings.header,
        listen: { host: settings.host, port: settings.port },
        token: async () => (await keeper.current()).token,
        onIapRefusal: async (status, body, sentToken) => {
          const kind = iapRefusal(status, body);
          refusals[kind] = (refusals[kind] ?? 0) + 1;
          const explanation = explainRefusal(
            kind,
            settings.header,
            (await keeper.current().catch(() => undefined))?.principal ?? 'the caller',
          );
          report.info(`IAP refused a request with ${status} (${kind}): ${explanation}`);
          changed();
          if (kind !== 'expired') return { explanation, retry: false };
          const fresh = await keeper.refreshNow(sentToken).catch(() => undefined);
          return { explanation, retry: fresh !== undefined };
        },
        health: () => {
          const kept = keeper.stats();
          const ok = kept.expiresAt !== undefined && kept.expiresAt.getTime() > Date.now();
          return {
            ok,
            body: {
              ok,
              target: settings.target,
              expiresAt: kept.expiresAt?.toISOString() ?? null,
              refreshes: kept.refreshes,
              lastError: kept.lastError ?? null,
            },
          };
        },
        log: report.info,
        count: (event) => {
          if (event === 'request') counts.requests++;
          else if (event === 'websocket') counts.websockets++;
          else counts.upstreamErrors++;
          if (event !== 'request') changed();
        },
      });
    } catch (error) {
      keeper.stop();
      throw error;
    }
  }
  changed();
  return {
    proxyUrl: proxy?.url,
    current: () => keeper.current(),
    stats,
    stop: async () => {
      keeper.stop();
      await proxy?.close();
    },
  };
}
