import type { Health } from '../http/health.ts';
import type { TokenKeeper } from './keeper.ts';

/**
 * The agent's readiness, the same for both proxies (`GET /.iap-token/healthz`): ready while it holds a token that has
 * not expired, with what a supervisor reads (the target, the expiry, the refreshes, the last mint's failure).
 */
export function agentHealth(keeper: TokenKeeper, target: string, now: () => number = Date.now): Health {
  return () => {
    const expiresAt = keeper.expiresAt();
    const kept = keeper.stats();
    const ok = expiresAt !== undefined && expiresAt.getTime() > now();
    return {
      ok,
      body: { ok, target, expiresAt: kept.expiresAt ?? null, refreshes: kept.refreshes, lastError: kept.lastError ?? null },
    };
  };
}
