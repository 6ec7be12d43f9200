import type { IapRefusal } from '../iap/answers.ts';

// The agent's figures, one record from the keeper and the proxies to the post step's table: the running agent
// counts them (`Tally`), the agent process adds how it ended and writes them to a file, the post step reads them.

export interface AgentStats {
  readonly startedAt: string;
  /** New tokens after the first. */
  readonly refreshes: number;
  readonly mintFailures: number;
  /** Why the last mint failed, until one succeeds again (explained, never a secret). */
  readonly lastError: string | undefined;
  /** When the current token expires (RFC 3339). */
  readonly expiresAt: string | undefined;
  readonly requests: number;
  readonly websockets: number;
  readonly upstreamErrors: number;
  /** Connections the forward proxy passed through untouched (hosts it does not add the token for). */
  readonly tunnels: number;
  /** IAP's refusals the proxy saw, by kind. */
  readonly refusals: Readonly<Partial<Record<IapRefusal, number>>>;
  /** The agent process's, written for the post step. */
  readonly pid?: number;
  readonly stoppedAt?: string;
  /** Why the agent ended on its own (a crash), when it did. */
  readonly died?: string;
}

/** What the token keeper counts of the record. */
export type KeeperStats = Pick<AgentStats, 'refreshes' | 'mintFailures' | 'lastError' | 'expiresAt'>;

/** What a proxy counts: a request, an upgrade to a WebSocket, an upstream that failed, a tunnel passed through. */
export type ProxyEvent = 'request' | 'websocket' | 'upstream-error' | 'tunnel';

/** The running agent's counts of what its proxies did. */
export class Tally {
  readonly #startedAt: string;
  readonly #counts = { requests: 0, websockets: 0, upstreamErrors: 0, tunnels: 0 };
  readonly #refusals: Partial<Record<IapRefusal, number>> = {};

  constructor(startedAt: Date) {
    this.#startedAt = startedAt.toISOString();
  }

  count(event: ProxyEvent): void {
    if (event === 'request') this.#counts.requests++;
    else if (event === 'websocket') this.#counts.websockets++;
    else if (event === 'tunnel') this.#counts.tunnels++;
    else this.#counts.upstreamErrors++;
  }

  refused(kind: IapRefusal): void {
    this.#refusals[kind] = (this.#refusals[kind] ?? 0) + 1;
  }

  stats(kept: KeeperStats): AgentStats {
    return { startedAt: this.#startedAt, ...kept, ...this.#counts, refusals: { ...this.#refusals } };
  }
}
