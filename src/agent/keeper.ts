import { jitteredBackoff } from '../backoff.ts';
import { explain, messageOf } from '../errors.ts';
import type { LogLine } from '../logger.ts';
import { redact } from '../secrets.ts';
import { rfc3339, type MintedToken } from '../tokens/check.ts';
import type { KeeperStats } from './stats.ts';

// Keeps a token valid for as long as the agent runs: it re-mints when less than a quarter of the token's lifetime is
// left, at once when IAP says a token expired, and, when minting fails (a revoked key, a removed role, Google down),
// keeps trying with jittered backoff while reporting why, instead of exiting. Clock and timers are injectable, so
// the schedule is tested in milliseconds.

export interface KeeperOptions {
  /** The pipeline's mint (src/pipeline.ts): a fresh, checked token. */
  readonly mint: () => Promise<MintedToken>;
  /** A token minted already (the action's own step), so that the agent starts without a request. */
  readonly initial?: MintedToken | undefined;
  /** Called with every new token before anyone is handed it (the token file is written here). */
  readonly onToken?: (minted: MintedToken) => void;
  readonly log: LogLine;
  readonly now?: () => number;
  readonly setTimer?: (run: () => void, ms: number) => unknown;
  readonly clearTimer?: (timer: unknown) => void;
  readonly random?: () => number;
}

/**
 * A token with less than this left is not handed out: a request must still get through IAP with it. The agent
 * replaces tokens long before (a quarter of their life ahead), so this only matters when minting fails.
 */
const USABLE_MARGIN_MS = 5_000;
/** The first retry after a failed mint; each next one doubles, up to the ceiling, each jittered to 50–100 %. */
const RETRY_BASE_MS = 2_000;
const RETRY_MAX_MS = 60_000;

export class TokenKeeper {
  readonly #options: KeeperOptions;
  readonly #now: () => number;
  #current: MintedToken | undefined;
  #mintedAt = 0;
  #minting: Promise<MintedToken> | undefined;
  #timer: unknown;
  #stopped = false;
  #lastFailure: Error | undefined;
  #failuresInARow = 0;
  #stats = { refreshes: 0, mintFailures: 0, lastError: undefined as string | undefined };

  constructor(options: KeeperOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Takes the initial token (or mints the first), and schedules the next mint. Rejects when the first mint fails. */
  async start(): Promise<MintedToken> {
    const { initial } = this.#options;
    if (initial && initial.expiresAt.getTime() - this.#now() > USABLE_MARGIN_MS) {
      this.#accept(initial, false);
      return initial;
    }
    return this.#mint();
  }

  /** A token that IAP will still accept, minting one first when there is none; rejects with why minting fails. */
  async current(): Promise<MintedToken> {
    const current = this.#current;
    if (current && this.#usable(current)) return current;
    if (this.#stopped) throw new Error('the token agent has stopped');
    // While a failed mint waits for its retry, callers get its reason at once: requests do not mint one each.
    if (this.#lastFailure && this.#timer !== undefined) throw this.#lastFailure;
    return this.#minting ?? this.#mint();
  }

  /**
   * IAP refused `stale` as expired (or not yet valid): mint now, unless another caller already replaced it. Many
   * requests refused with the same token cause one mint.
   */
  async refreshNow(stale: string): Promise<MintedToken> {
    if (this.#stopped) throw new Error('the token agent has stopped');
    if (this.#current && this.#current.token !== stale && this.#usable(this.#current)) return this.#current;
    return this.#minting ?? this.#mint();
  }

  stats(): KeeperStats {
    return { ...this.#stats, expiresAt: this.#current?.expiresAt.toISOString() };
  }

  /** When the token handed out now expires; `undefined` before the first. */
  expiresAt(): Date | undefined {
    return this.#current?.expiresAt;
  }

  stop(): void {
    this.#stopped = true;
    this.#clear();
  }

  #usable(minted: MintedToken): boolean {
    return minted.expiresAt.getTime() - this.#now() > USABLE_MARGIN_MS;
  }

  #mint(): Promise<MintedToken> {
    const minting = this.#options
      .mint()
      .then((minted) => {
        // A token minted after stop() is handed to whoever asked, but not kept, written or scheduled on.
        if (!this.#stopped) this.#accept(minted, this.#current !== undefined);
        return minted;
      })
      .catch((error: unknown) => {
        this.#fail(error);
        throw error;
      })
      .finally(() => {
        if (this.#minting === minting) this.#minting = undefined;
      });
    this.#minting = minting;
    return minting;
  }

  #accept(minted: MintedToken, refresh: boolean): void {
    this.#options.onToken?.(minted);
    this.#current = minted;
    this.#mintedAt = this.#now();
    this.#failuresInARow = 0;
    this.#lastFailure = undefined;
    this.#stats.lastError = undefined;
    if (refresh) this.#stats.refreshes++;
    // Less than a quarter of the lifetime left: mint again.
    const lifetime = minted.expiresAt.getTime() - this.#mintedAt;
    const next = Math.max(1_000, lifetime - lifetime / 4);
    this.#schedule(next);
    this.#options.log(
      `Next refresh at ${rfc3339(new Date(this.#mintedAt + next))}, before the token expires at ${rfc3339(minted.expiresAt)}.`,
    );
  }

  #fail(error: unknown): void {
    this.#lastFailure = error instanceof Error ? error : new Error(messageOf(error));
    this.#stats.mintFailures++;
    this.#failuresInARow++;
    this.#stats.lastError = redact(explain(error));
    const wait = jitteredBackoff(this.#failuresInARow, RETRY_BASE_MS, RETRY_MAX_MS, this.#options.random ?? Math.random);
    const left = this.#current ? ` The current token still works until ${rfc3339(this.#current.expiresAt)}.` : '';
    this.#options.log(
      `Could not mint a token (attempt ${this.#failuresInARow}); trying again in ${(wait / 1000).toFixed(1)} s.${left} ${this.#stats.lastError}`,
    );
    this.#schedule(wait);
  }

  #schedule(ms: number): void {
    this.#clear();
    if (this.#stopped) return;
    const set = this.#options.setTimer ?? ((run: () => void, wait: number) => setTimeout(run, wait));
    this.#timer = set(() => {
      this.#timer = undefined;
      if (!this.#minting) this.#mint().catch(() => undefined);
    }, ms);
  }

  #clear(): void {
    if (this.#timer === undefined) return;
    (this.#options.clearTimer ?? ((timer: unknown) => clearTimeout(timer as NodeJS.Timeout)))(this.#timer);
    this.#timer = undefined;
  }
}
