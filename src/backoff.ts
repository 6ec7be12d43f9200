// The one backoff: the HTTP layer's retries (src/http/client.ts) and the agent's re-mints (src/agent/keeper.ts).

/**
 * The wait before retry `attempt` (the first is 1): `baseMs` doubled each time up to `maxMs`, jittered to 50–100 %
 * so that many clients failing together do not retry together.
 */
export function jitteredBackoff(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
