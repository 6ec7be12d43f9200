import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Env } from '../endpoints.ts';
import { startForwardProxy } from '../http/forward-proxy.ts';
import { createForwarder, type Forwarder } from '../http/forwarder.ts';
import { peerPolicy } from '../http/gate.ts';
import { startReverseProxy, type RunningProxy } from '../http/reverse-proxy.ts';
import { hostMatches } from '../inputs/agent.ts';
import { explainRefusal, iapRefusal, type IapRefusal } from '../iap/answers.ts';
import { createMinter } from '../pipeline.ts';
import type { MintedToken } from '../tokens/check.ts';
import { registerSecret } from '../secrets.ts';
import type { Reporter } from '../tokens/mint.ts';
import { isLoopback } from '../urls.ts';
import { TokenKeeper } from './keeper.ts';
import { createCertificateAuthority } from './certificates.ts';
import { writeFileAtomically, writeTokenFile } from './token-file.ts';

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
  /** Where to write the forward proxy's CA certificate (PEM), for browsers to trust. */
  readonly caFile?: string | undefined;
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
  /** Connections the forward proxy passed through untouched (hosts it does not add the token for). */
  readonly tunnels: number;
  /** IAP's refusals the proxy saw, by kind. */
  readonly refusals: Readonly<Partial<Record<IapRefusal, number>>>;
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

/** How often the forward proxy's CA is checked for renewal. */
const CA_CHECK_MS = 10 * 60_000;

/** The settings that were given: exactOptionalPropertyTypes takes no `undefined` for a left-out option. */
function definedOnly<T extends Record<string, number | undefined>>(values: T): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: number };
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { config, env, report, tokenFile } = options;
  const startedAt = new Date().toISOString();
  const counts = { requests: 0, websockets: 0, upstreamErrors: 0, tunnels: 0 };
  const refusals: Partial<Record<IapRefusal, number>> = {};
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

  /** What every proxied request shares: the token of `keeper`, IAP's refusals told and counted, the figures. */
  const forwarding = (keeper: TokenKeeper, header: 'authorization' | 'proxy-authorization') => ({
    header,
    token: async () => (await keeper.current()).token,
    onIapRefusal: async (status: number, body: string, sentToken: string, final: boolean) => {
      const kind = iapRefusal(status, body);
      refusals[kind] = (refusals[kind] ?? 0) + 1;
      const principal = (await keeper.current().catch(() => undefined))?.principal ?? 'the caller';
      const explanation = explainRefusal(kind, header, principal);
      report.info(`IAP refused a request with ${status} (${kind}): ${explanation}`);
      changed();
      // A refusal of the retry itself (a clock far off) mints nothing more: one mint per stale token.
      if (kind !== 'expired' || final) return { explanation, retry: false };
      const fresh = await keeper.refreshNow(sentToken).catch(() => undefined);
      return { explanation, retry: fresh !== undefined };
    },
    log: report.info,
    count: (event: 'request' | 'upstream-error' | 'websocket' | 'tunnel') => {
      if (event === 'request') counts.requests++;
      else if (event === 'websocket') counts.websockets++;
      else if (event === 'tunnel') counts.tunnels++;
      else counts.upstreamErrors++;
      if (event !== 'request') changed();
    },
  });
  const health = (target: string) => () => {
    const kept = keeper.stats();
    const ok = kept.expiresAt !== undefined && kept.expiresAt.getTime() > Date.now();
    return {
      ok,
      body: { ok, target, expiresAt: kept.expiresAt?.toISOString() ?? null, refreshes: kept.refreshes, lastError: kept.lastError ?? null },
    };
  };
  const warnIfExposed = async (host: string, what: string) => {
    if (!isLoopback(host)) {
      report.warning(
        `The ${what} listens on ${host}: anyone who can reach that address passes IAP as ${(await keeper.current()).principal}.`,
      );
    }
  };
  const limits = config.agent?.limits;
  const bounds = { maxConnections: limits?.maxConnections, responseTimeoutMs: limits?.responseTimeoutMs };
  /** Says who may use a proxy; where the machine cannot tell a user's connection from another's, as a warning. */
  const tellPeers = (what: string, proxy: RunningProxy, checked: boolean, protection: string) => {
    if (checked) report.info(`The ${what} ${proxy.peers}.`);
    else report.warning(`The ${what} ${proxy.peers}; ${protection}`);
  };

  const running: RunningProxy[] = [];
  const extraKeepers: TokenKeeper[] = [];
  const timers: NodeJS.Timeout[] = [];
  const stopAll = async () => {
    for (const timer of timers) clearInterval(timer);
    keeper.stop();
    for (const extra of extraKeepers) extra.stop();
    await Promise.all(running.map((proxy) => proxy.close()));
  };
  let proxyUrl: string | undefined;
  let forwardProxyUrl: string | undefined;
  let spki: string | undefined;
  try {
    const settings = config.agent?.proxy;
    if (settings) {
      await warnIfExposed(settings.host, 'proxy');
      const peers = peerPolicy(settings.host);
      const proxy = await startReverseProxy({
        ...forwarding(keeper, settings.header),
        ...definedOnly(bounds),
        target: new URL(settings.target),
        listen: { host: settings.host, port: settings.port },
        health: health(settings.target),
        peers,
      });
      running.push(proxy);
      proxyUrl = proxy.url;
      tellPeers(
        'proxy',
        proxy,
        peers.onlyUid !== undefined,
        'so any user who can connect to it passes IAP as the job: use it on a machine of your own (a GitHub-hosted runner is one), or use the forward proxy, which asks for a credential there.',
      );
    }
    const forward = config.agent?.forward;
    if (forward) {
      await warnIfExposed(forward.host, 'forward proxy');
      const ca = createCertificateAuthority(forward.hosts);
      spki = ca.leafSpkiSha256;
      const caFile = options.caFile;
      if (caFile) writeFileAtomically(caFile, ca.certificatePem);
      // A CLI proxy may run for days: the CA is renewed before its day ends, and its file with it.
      const renewal = setInterval(() => {
        if (ca.renewIfDue() && caFile) writeFileAtomically(caFile, ca.certificatePem);
      }, CA_CHECK_MS);
      renewal.unref();
      timers.push(renewal);
      // Where the machine cannot tell who connects, every request must carry this run's credential instead.
      const peers = peerPolicy(forward.host);
      const credential = peers.onlyUid === undefined ? `iap-token:${randomBytes(24).toString('base64url')}` : undefined;
      if (credential) registerSecret(credential.slice('iap-token:'.length));
      /** An ID token serves every host (its audience is the OAuth client); a signed JWT is minted per origin. */
      const keeperFor = (origin: string): TokenKeeper => {
        if (config.tokenType !== 'signed_jwt' || config.audience === `${origin}/*`) return keeper;
        const perOrigin = createMinter({ ...config, audience: `${origin}/*` }, { env, report });
        const extra = new TokenKeeper({ mint: () => perOrigin.mint(), log: report.info, onToken: () => changed() });
        extraKeepers.push(extra);
        return extra;
      };
      const forwarders = new Map<string, Forwarder>();
      const proxy = await startForwardProxy({
        intercepts: (host) => hostMatches(forward.hosts, host),
        forwarderFor: (origin) => {
          let forwarder = forwarders.get(origin);
          if (!forwarder) {
            forwarder = createForwarder({
              ...forwarding(keeperFor(origin), forward.header),
              ...definedOnly(bounds),
              target: new URL(origin),
            });
            forwarders.set(origin, forwarder);
          }
          return forwarder;
        },
        certificateFor: (host) => ca.leafFor(host),
        health: health(forward.hosts.join(', ')),
        listen: { host: forward.host, port: forward.port },
        peers,
        ...(credential ? { credential } : {}),
        ...definedOnly({ maxConnections: limits?.maxConnections, tunnelIdleTimeoutMs: limits?.tunnelIdleTimeoutMs }),
        log: report.info,
        count: forwarding(keeper, forward.header).count,
      });
      // Closing the forward proxy also closes the per-origin forwarders (their upstream pools).
      const closeAll = async (): Promise<void> => {
        await Promise.all([proxy.close(), ...[...forwarders.values()].map((forwarder) => forwarder.close())]);
      };
      running.push({ ...proxy, close: closeAll });
      forwardProxyUrl = credential ? proxy.url.replace('http://', `http://${credential}@`) : proxy.url;
      tellPeers('forward proxy', proxy, peers.onlyUid !== undefined, 'its URL carries that credential (masked in the log).');
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  changed();
  return { proxyUrl, forwardProxyUrl, spki, current: () => keeper.current(), stats, stop: stopAll };
}
