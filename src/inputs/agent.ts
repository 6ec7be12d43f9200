import type { AgentConfig, ProxyLimits } from '../config.ts';
import { quote } from '../errors.ts';
import { carriesTokens, displayUrl } from '../urls.ts';
import type { Context } from './context.ts';
import { parseUrlInput, readBoolean, readTokenHeader, readWholeNumber } from './values.ts';

// keep_fresh, proxy_to, proxy_header and proxy_listen (the CLI's `proxy --to --header --listen`).

/** The proxy's target origin, checked; `undefined` when none is asked for. */
export function proxyTarget(ctx: Context): string | undefined {
  const { input, fail } = ctx;
  const value = input('proxy_to');
  if (!value) return undefined;
  const accepted = 'an origin such as https://app.example.com (no path, query or user name)';
  // Userinfo first: a URL with a password is never quoted back.
  const url = parseUrlInput(ctx, 'proxy_to', value, accepted);
  if (!carriesTokens(url)) {
    fail('proxy_to', `must be https (http only to localhost): the token would cross the network in the clear; got ${displayUrl(url)}`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    fail('proxy_to', `must be ${accepted}: every request's own path is forwarded to it; got ${displayUrl(url)}`);
  }
  return url.origin;
}

/**
 * What the proxies reach: proxy_to's origin and proxy_hosts' names. Each is read once, when first asked for (they also
 * tell the app's URL), so that the inputs are checked in the order they always were.
 */
export interface ProxiedHosts {
  readonly target: () => string | undefined;
  readonly hosts: () => readonly string[];
}

export function proxiedHosts(ctx: Context): ProxiedHosts {
  return { target: once(() => proxyTarget(ctx)), hosts: once(() => proxyHosts(ctx)) };
}

function once<T>(read: () => T): () => T {
  let value: { readonly read: T } | undefined;
  return () => (value ??= { read: read() }).read;
}

export function readAgentConfig(ctx: Context, proxied: ProxiedHosts, signedJwtAudience: string | undefined): AgentConfig | undefined {
  const { input, fail, words } = ctx;
  const target = proxied.target();
  const keepFresh = readBoolean(ctx, input('keep_fresh'), 'keep_fresh', false);
  const header = readTokenHeader(ctx, 'proxy_header');
  const { host, port } = readListen(ctx);
  const hosts = proxied.hosts();
  const limits = readLimits(ctx);
  if (!target && !hosts.length) return keepFresh ? { proxy: undefined, forward: undefined, limits } : undefined;
  if (target && signedJwtAudience !== undefined && signedJwtAudience !== `${target}/*`) {
    fail(
      'audience',
      `must be ${target}/* with a proxy to ${target}: the proxy forwards every path, and a signed JWT's audience must cover them all (or leave ${words.name('audience')} out).`,
    );
  }
  // With both proxies, the reverse one takes the port asked for and the forward one any free port.
  return {
    proxy: target ? { target, header, host, port } : undefined,
    forward: hosts.length ? { hosts, header, host, port: target ? 0 : port } : undefined,
    limits,
  };
}

/** proxy_max_connections, proxy_response_timeout, proxy_tunnel_idle_timeout (--max-connections, …). */
function readLimits(ctx: Context): ProxyLimits {
  return {
    maxConnections: readWholeNumber(ctx, 'proxy_max_connections', 'connections', 1, 100_000),
    responseTimeoutMs: readWholeNumber(ctx, 'proxy_response_timeout', 'seconds (0: no limit)', 0, 86_400) * 1000,
    tunnelIdleTimeoutMs: readWholeNumber(ctx, 'proxy_tunnel_idle_timeout', 'seconds (0: no limit)', 0, 86_400) * 1000,
  };
}

const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const DNS_NAME = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})+$`);

/**
 * proxy_hosts (the CLI's --host, repeatable): the IAP hosts the forward proxy adds the token for. Each is a DNS name,
 * or `*.` and a domain of at least two labels for its direct subdomains; never an IP address, a port or a scheme.
 */
export function proxyHosts({ input, fail }: Context): string[] {
  const hosts: string[] = [];
  for (const raw of input('proxy_hosts').split(/[\n,]/)) {
    const host = raw.trim().toLowerCase();
    if (!host) continue;
    const accepted = 'a host name such as app.example.com, or *.example.com for its direct subdomains';
    if (host.includes('://')) fail('proxy_hosts', `${quote(host)} has a scheme; give ${accepted}`);
    if (/^\[|^\d+(\.\d+){3}$|^[0-9a-f:]+:[0-9a-f:]*$/.test(host)) {
      fail('proxy_hosts', `${quote(host)} is an IP address; IAP serves host names: give ${accepted}`);
    }
    if (host.includes(':')) fail('proxy_hosts', `${quote(host)} has a port; give the host alone (any port of it is intercepted)`);
    if (host.includes('*') && !/^\*\.[^*]+$/.test(host)) {
      fail('proxy_hosts', `${quote(host)}: a wildcard stands only for the first label (*.example.com), covering one label`);
    }
    if (!DNS_NAME.test(host)) fail('proxy_hosts', `${quote(host)} is not a host name: give ${accepted}`);
    if (!hosts.includes(host)) hosts.push(host);
  }
  if (hosts.length > 50) fail('proxy_hosts', `names ${hosts.length} hosts; at most 50 are accepted`);
  return hosts;
}

/** HOST:PORT, an IP address or localhost and a port; loopback unless asked (the agent warns about any other). */
function readListen({ input, fail }: Context): { host: string; port: number } {
  const value = input('proxy_listen') || '127.0.0.1:0';
  const match = /^(\[[0-9A-Fa-f:]+\]|(?:\d{1,3}\.){3}\d{1,3}|localhost):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2] ?? NaN);
  const octets = /^[\d.]+$/.test(match?.[1] ?? '') ? (match?.[1] ?? '').split('.').map(Number) : [];
  if (!match || port > 65535 || octets.some((octet) => octet > 255)) {
    fail('proxy_listen', `must be HOST:PORT with an IP address (127.0.0.1, [::1]) and a port (0: any free one), got ${quote(value)}`);
  }
  const host = (match?.[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}
