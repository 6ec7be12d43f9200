// URLs a token may travel to, and how URLs are shown. Every check that a URL is safe for a credential is this one:
// https, or plain http to this machine only (a local fake, a test double).

export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** May a credential be sent to this URL? https anywhere; http only to a loopback address. */
export function carriesTokens(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
}

/** A URL as logs, errors and the summary show it: no user name or password, and a query only as `?…` (it may hold a key). */
export function displayUrl(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return `${parsed.origin}${parsed.pathname}${parsed.search ? '?…' : ''}`;
}

/**
 * For a signed JWT: does its audience (an exact URL, or a prefix ending in `/*`) cover the URL? IAP ignores the
 * query. Returns the problem, or `undefined` when it is covered.
 */
export function audienceCovers(audience: string, url: URL): string | undefined {
  const bare = `${url.origin}${url.pathname}`;
  const covered = audience.endsWith('*') ? bare.startsWith(audience.slice(0, -1)) : bare === audience;
  if (covered) return undefined;
  return `${displayUrl(url)} is not covered by the signed JWT's audience ${audience}, so IAP would refuse it. Use an audience that covers every URL, such as ${url.origin}/*`;
}

/**
 * Whether `host` is one of `hosts` (proxy_hosts' names, lower case; a `*.example.com` entry stands for exactly one
 * more label): the forward proxy asks on every CONNECT.
 */
export function hostMatches(hosts: readonly string[], host: string): boolean {
  const name = host.toLowerCase();
  return hosts.some((entry) => {
    if (!entry.startsWith('*.')) return name === entry;
    const domain = entry.slice(1); // ".example.com"
    const label = name.slice(0, -domain.length);
    return name.endsWith(domain) && label.length > 0 && !label.includes('.');
  });
}
