import type { IncomingMessage } from 'node:http';
import { isLoopback } from '../urls.ts';

// Requests a proxy will not send on with the token, though they reached it: the one rule for both proxies. A page in
// a browser on this machine can reach a loopback proxy and the apps behind the forward proxy: a cross-site form, a
// fetch or a WebSocket then carries the page's Origin, and would act with the job's identity. So a request that can
// change something (not GET, HEAD or OPTIONS) or opens a WebSocket may come only from an origin the proxy trusts.
// TRACE, which an upstream may echo back with the token in it, is refused.

export interface Refusal {
  readonly status: number;
  readonly reason: string;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function refuseRequest(req: IncomingMessage, trusted: (origin: URL) => boolean): Refusal | undefined {
  if (req.method === 'TRACE') return { status: 405, reason: 'TRACE is refused: it would echo the token back' };
  const from = req.headers.origin;
  if (from === undefined || (SAFE.has(req.method ?? '') && !req.headers.upgrade)) return undefined;
  if (isTrusted(from, trusted)) return undefined;
  return { status: 403, reason: 'a request from another site is not sent on with the token' };
}

/** A page on this machine (a loopback origin) is as trusted as its user. `null` and unparsable origins are not. */
export function isLoopbackOrigin(origin: URL): boolean {
  return isLoopback(origin.hostname);
}

function isTrusted(origin: string, trusted: (origin: URL) => boolean): boolean {
  try {
    const url = new URL(origin);
    return url.origin !== 'null' && trusted(url);
  } catch {
    return false;
  }
}
