import { randomBytes } from 'node:crypto';
import type { Config, ForwardProxyConfig, ProxyConfig } from '../config.ts';
import type { Env } from '../env.ts';
import { startForwardProxy } from '../http/forward-proxy.ts';
import { createForwarder, type Forwarder } from '../http/forwarder.ts';
import { peerPolicy } from '../http/gate.ts';
import { startReverseProxy, type RunningProxy } from '../http/reverse-proxy.ts';
import type { Logger } from '../logger.ts';
import { createMinter } from '../pipeline.ts';
import { registerSecret } from '../secrets.ts';
import { hostMatches, isLoopback } from '../urls.ts';
import { createCertificateAuthority } from './certificates.ts';
import { forwardingWith, type ForwardingContext } from './forwarding.ts';
import { agentHealth } from './health.ts';
import { TokenKeeper } from './keeper.ts';
import { writeFileAtomically } from './token-file.ts';

// The agent's serving phase: each proxy asked for, started on the agent's keeper, and what it takes to close it.

/** What serving needs from the set-up: the config, the keeper of the token, where the figures and the log go. */
export interface Serving extends ForwardingContext {
  readonly config: Config;
  readonly env: Env;
  readonly keeper: TokenKeeper;
  readonly report: Logger;
}

/** A proxy being served: its URL for clients, and how to stop it (and what it alone holds). */
export interface Served {
  readonly url: string;
  close(): Promise<void>;
}

/** How often the forward proxy's CA is checked for renewal. */
const CA_CHECK_MS = 10 * 60_000;

/** The settings that were given: exactOptionalPropertyTypes takes no `undefined` for a left-out option. */
function definedOnly<T extends Record<string, number | undefined>>(values: T): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: number };
}

/** A proxy on another address than loopback serves whoever reaches it: said at once, as a warning. */
async function warnIfExposed(serving: Serving, host: string, what: string): Promise<void> {
  if (isLoopback(host)) return;
  serving.report.warning(
    `The ${what} listens on ${host}: anyone who can reach that address passes IAP as ${(await serving.keeper.current()).principal}.`,
  );
}

/** Says who may use a proxy; where the machine cannot tell a user's connection from another's, as a warning. */
function tellPeers(serving: Serving, what: string, proxy: RunningProxy, checked: boolean, protection: string): void {
  if (checked) serving.report.info(`The ${what} ${proxy.peers}.`);
  else serving.report.warning(`The ${what} ${proxy.peers}; ${protection}`);
}

/** The authenticating reverse proxy to `settings.target`. */
export async function serveReverseProxy(serving: Serving, settings: ProxyConfig): Promise<Served> {
  const { keeper, config } = serving;
  await warnIfExposed(serving, settings.host, 'proxy');
  const limits = config.agent?.limits;
  const peers = peerPolicy(settings.host);
  const proxy = await startReverseProxy({
    ...forwardingWith(keeper, settings.header, serving),
    ...definedOnly({ maxConnections: limits?.maxConnections, responseTimeoutMs: limits?.responseTimeoutMs }),
    target: new URL(settings.target),
    listen: { host: settings.host, port: settings.port },
    health: agentHealth(keeper, settings.target),
    peers,
  });
  tellPeers(
    serving,
    'proxy',
    proxy,
    peers.onlyUid !== undefined,
    'so any user who can connect to it passes IAP as the job: use it on a machine of your own (a GitHub-hosted runner is one), or use the forward proxy, which asks for a credential there.',
  );
  return { url: proxy.url, close: () => proxy.close() };
}

/** The forward proxy for `settings.hosts`, its CA written to `caFile` and renewed; its URL carries a credential where needed. */
export async function serveForwardProxy(
  serving: Serving,
  settings: ForwardProxyConfig,
  caFile: string | undefined,
): Promise<Served & { readonly spki: string }> {
  const { keeper, config, env, report, changed } = serving;
  await warnIfExposed(serving, settings.host, 'forward proxy');
  const limits = config.agent?.limits;
  const ca = createCertificateAuthority(settings.hosts);
  if (caFile) writeFileAtomically(caFile, ca.certificatePem);
  // A CLI proxy may run for days: the CA is renewed before its day ends, and its file with it.
  const renewal = setInterval(() => {
    if (ca.renewIfDue() && caFile) writeFileAtomically(caFile, ca.certificatePem);
  }, CA_CHECK_MS);
  renewal.unref();
  // Where the machine cannot tell who connects, every request must carry this run's credential instead.
  const peers = peerPolicy(settings.host);
  const credential = peers.onlyUid === undefined ? `iap-token:${randomBytes(24).toString('base64url')}` : undefined;
  if (credential) registerSecret(credential.slice('iap-token:'.length));
  const extraKeepers: TokenKeeper[] = [];
  /** An ID token (its audience is the OAuth client) or an access token (none) serves every host; a signed JWT is per origin. */
  const keeperFor = (origin: string): TokenKeeper => {
    if (config.tokenType !== 'signed_jwt' || config.audience === `${origin}/*`) return keeper;
    const perOrigin = createMinter({ ...config, audience: `${origin}/*` }, { env, report });
    const extra = new TokenKeeper({ mint: () => perOrigin.mint(), log: report.info, onToken: () => changed() });
    extraKeepers.push(extra);
    return extra;
  };
  const forwarders = new Map<string, Forwarder>();
  const bounds = definedOnly({ maxConnections: limits?.maxConnections, responseTimeoutMs: limits?.responseTimeoutMs });
  let proxy: RunningProxy;
  try {
    proxy = await startForwardProxy({
      intercepts: (host) => hostMatches(settings.hosts, host),
      forwarderFor: (origin) => {
        let forwarder = forwarders.get(origin);
        if (!forwarder) {
          forwarder = createForwarder({
            ...forwardingWith(keeperFor(origin), settings.header, serving),
            ...bounds,
            target: new URL(origin),
          });
          forwarders.set(origin, forwarder);
        }
        return forwarder;
      },
      certificateFor: (host) => ca.leafFor(host),
      health: agentHealth(keeper, settings.hosts.join(', ')),
      listen: { host: settings.host, port: settings.port },
      peers,
      ...(credential ? { credential } : {}),
      ...definedOnly({ maxConnections: limits?.maxConnections, tunnelIdleTimeoutMs: limits?.tunnelIdleTimeoutMs }),
      log: report.info,
      count: forwardingWith(keeper, settings.header, serving).count,
    });
  } catch (error) {
    clearInterval(renewal);
    throw error;
  }
  tellPeers(serving, 'forward proxy', proxy, peers.onlyUid !== undefined, 'its URL carries that credential (masked in the log).');
  return {
    url: credential ? proxy.url.replace('http://', `http://${credential}@`) : proxy.url,
    spki: ca.leafSpkiSha256,
    // Closing the forward proxy also closes the per-origin forwarders (their upstream pools) and their keepers.
    close: async () => {
      clearInterval(renewal);
      for (const extra of extraKeepers) extra.stop();
      await Promise.all([proxy.close(), ...[...forwarders.values()].map((forwarder) => forwarder.close())]);
    },
  };
}
