import type { AgentConfig, ProxyConfig } from '../config.ts';
import { quote } from '../errors.ts';
import { carriesTokens, displayUrl } from '../urls.ts';
import type { Context } from './context.ts';

/** keep_fresh, proxy_to, proxy_header and proxy_listen (the CLI's `proxy --to --header --listen`). */

/** The proxy's target origin, checked; `undefined` when none is asked for. */
export function proxyTarget({ input, fail }: Context): string | undefined {
  const value = input('proxy_to');
  if (!value) return undefined;
  const accepted = 'an origin such as https://app.example.com (no path, query or user name)';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('proxy_to', `must be ${accepted}, got ${quote(value)}`);
  }
  // Userinfo first: a URL with a password is never quoted back.
  if (url.username || url.password) return fail('proxy_to', `must be ${accepted}; it carries a user name or password`);
  if (!carriesTokens(url)) {
    fail('proxy_to', `must be https (http only to localhost): the token would cross the network in the clear; got ${displayUrl(url)}`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    fail('proxy_to', `must be ${accepted}: every request's own path is forwarded to it; got ${displayUrl(url)}`);
  }
  return url.origin;
}

export function readAgentConfig(ctx: Context, signedJwtAudience: string | undefined): AgentConfig | undefined {
  const { input, fail, words } = ctx;
  const target = proxyTarget(ctx);
  const keepFresh = readKeepFresh(ctx);
  const header = input('proxy_header').toLowerCase() || 'authorization';
  if (header !== 'authorization' && header !== 'proxy-authorization') {
    fail(
      'proxy_header',
      `must be authorization or proxy-authorization (for apps that use their own Authorization header), got ${quote(input('proxy_header'))}`,
    );
  }
  const { host, port } = readListen(ctx);
  if (!target) return keepFresh ? { proxy: undefined } : undefined;
  if (signedJwtAudience !== undefined && signedJwtAudience !== `${target}/*`) {
    fail(
      'audience',
      `must be ${target}/* with a proxy to ${target}: the proxy forwards every path, and a signed JWT's audience must cover them all (or leave ${words.name('audience')} out).`,
    );
  }
  const proxy: ProxyConfig = { target, header: header as ProxyConfig['header'], host, port };
  return { proxy };
}

function readKeepFresh({ input, fail }: Context): boolean {
  const value = input('keep_fresh');
  if (!value || /^false$/i.test(value)) return false;
  if (/^true$/i.test(value)) return true;
  return fail('keep_fresh', `must be true or false, got ${quote(value)}`);
}

/** HOST:PORT, an IP address or localhost and a port; loopback unless asked (the agent warns about any other). */
function readListen({ input, fail }: Context): { host: string; port: number } {
  const value = input('proxy_listen') || '127.0.0.1:0';
  const match = /^(\[[0-9A-Fa-f:]+\]|[0-9.]+|localhost):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2] ?? NaN);
  if (!match || port > 65535) {
    fail('proxy_listen', `must be HOST:PORT with an IP address (127.0.0.1, [::1]) and a port (0: any free one), got ${quote(value)}`);
  }
  const host = (match?.[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}
