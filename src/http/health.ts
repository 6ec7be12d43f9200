/** Where the agent's proxies answer readiness, without touching their targets. */
export const HEALTH_PATH = '/.iap-token/healthz';

/** A proxy's readiness: 200 with `body` when `ok`, else 503 (the agent's is src/agent/health.ts). */
export type Health = () => { readonly ok: boolean; readonly body: Readonly<Record<string, unknown>> };
