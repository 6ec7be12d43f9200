import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { TokenHeader } from '../config.ts';

// What the proxies change in the headers that pass through them, either way: the hop-by-hop ones stay on their hop
// (RFC 9110, 7.6.1), the token goes in the header IAP reads, and the app's redirects and cookies are kept on the proxy.

/** Headers that describe one connection, not the message: never forwarded either way. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // HTTP/2's cleartext upgrade offer (h2c): the upgrade is declined, so its settings are for nobody.
  'http2-settings',
  'host',
  // Node's server has answered the client's Expect: 100-continue itself; the upstream client may not send it on.
  'expect',
]);

/**
 * A message's headers without this hop's: the standard hop-by-hop ones and those its Connection header names (RFC
 * 9110, 7.6.1). The one way either proxy drops them, either way.
 */
export function withoutHopByHop(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const named = String(incoming['connection'] ?? '')
    .toLowerCase()
    .split(',')
    .map((name) => name.trim());
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.includes(name)) headers[name] = value;
  }
  return headers;
}

/** The client's headers for the upstream: this hop's dropped, the target's Host, the token in `header`. */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  target: URL,
  header: TokenHeader,
  token: string,
  websocket: boolean,
): Record<string, string | string[]> {
  const headers = withoutHopByHop(incoming);
  headers['host'] = target.host;
  headers[header] = `Bearer ${token}`;
  if (websocket) {
    headers['connection'] = 'Upgrade';
    headers['upgrade'] = 'websocket';
  }
  return headers;
}

/**
 * The app's headers for the client: hop-by-hop ones dropped; a `Location` on the target rewritten to the proxy, and a
 * cookie's `Domain` naming the target dropped, so that the client stays on the proxy. Nothing else is changed.
 */
export function downstreamHeaders(headers: IncomingHttpHeaders, target: URL, origin: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = withoutHopByHop(headers);
  const location = headers['location'];
  if (typeof location === 'string' && origin) {
    try {
      const url = new URL(location);
      if (url.origin === target.origin) out['location'] = `${origin}${url.pathname}${url.search}${url.hash}`;
    } catch {
      // A relative Location stays as it is: it is relative to the proxy already.
    }
  }
  // One cookie may come as a string, several as a list.
  const cookies = headers['set-cookie'] as string | string[] | undefined;
  if (cookies) out['set-cookie'] = [cookies].flat().map((cookie) => withoutTargetDomain(cookie, target.hostname));
  return out;
}

function withoutTargetDomain(cookie: string, hostname: string): string {
  // The first part is the cookie's own name=value (which may be named "domain"); attributes follow.
  const [pair = '', ...attributes] = cookie.split(';');
  return [
    pair,
    ...attributes.filter((attribute) => {
      const [name = '', value = ''] = attribute.split('=', 2);
      return !(name.trim().toLowerCase() === 'domain' && value.trim().replace(/^\./, '').toLowerCase() === hostname.toLowerCase());
    }),
  ].join(';');
}

/**
 * undici's raw headers (name, value, name, value… as bytes) as Node's server writes them: names in lower case, a
 * repeated header as a list (each value its own line again), set-cookie always a list.
 */
export function headersFromRaw(raw: readonly (Buffer | string)[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase();
    // As bytes: Node writes header values as latin1, so each byte the app sent is the byte the client gets.
    const field = raw[i + 1];
    const value = Buffer.isBuffer(field) ? field.toString('latin1') : String(field);
    const seen = headers[name];
    if (seen === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else headers[name] = [seen, value].flat();
  }
  return headers;
}

/** A response head written by hand, for a connection that has left Node's HTTP server (an upgrade). */
export function rawHead(status: number, message: string, rawHeaders: readonly string[]): string {
  const lines = [`HTTP/1.1 ${status} ${message}`];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i] ?? ''}: ${rawHeaders[i + 1] ?? ''}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
