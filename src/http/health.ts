/** Where the agent's proxy answers readiness, without touching its target. */
export const HEALTH_PATH = '/.iap-token/healthz';
