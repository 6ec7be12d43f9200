import { describe, expect, test } from '@jest/globals';
import { setImmediate as settle } from 'node:timers/promises';
import { TokenKeeper } from '../src/agent/keeper.ts';
import { ActionError } from '../src/errors.ts';
import { registerSecret, setMasker } from '../src/secrets.ts';
import type { MintedToken } from '../src/tokens/check.ts';

setMasker(() => undefined);

/**
 * TokenKeeper's schedule, in fake time: the clock, the timers and the jitter are the test's, and every mint is a
 * promise the test settles by hand, so what is minted when, and what is handed out meanwhile, is exact.
 */
const T0 = Date.parse('2030-01-01T00:00:00Z');
const MINUTE = 60_000;

const minted = (token: string, expiresAt: number): MintedToken => ({
  token,
  kind: 'id_token',
  audience: 'https://app.example.com',
  principal: 'ci@project.iam.gserviceaccount.com',
  expiresAt: new Date(expiresAt),
});
/** An initial token (the action's own) with `minutes` left at start. */
const initialFor = (minutes: number) => (now: number) => minted('initial', now + minutes * MINUTE);

interface Timer {
  readonly run: () => void;
  readonly ms: number;
  cleared: boolean;
}

function world(options: { initial?: (now: number) => MintedToken; random?: () => number } = {}) {
  const w = {
    now: T0,
    timers: [] as Timer[],
    mints: [] as { resolve: (minted: MintedToken) => void; reject: (error: unknown) => void }[],
    events: [] as string[],
    logs: [] as string[],
    /** A token that expires `minutes` from the fake now. */
    token: (name: string, minutes: number): MintedToken => minted(name, w.now + minutes * MINUTE),
    /** The timers set and not cleared. */
    live: () => w.timers.filter((timer) => !timer.cleared),
    /** Runs the one live timer (as if its time had come), then lets the promises settle. */
    fire: async () => {
      const live = w.live();
      expect(live).toHaveLength(1);
      live[0]!.cleared = true;
      live[0]!.run();
      await settle();
    },
    /** Settles the n-th mint so far (0-based) with a token or an error. */
    answer: async (n: number, outcome: MintedToken | Error) => {
      const mint = w.mints[n]!;
      if (outcome instanceof Error) mint.reject(outcome);
      else mint.resolve(outcome);
      await settle();
    },
  };
  const keeper = new TokenKeeper({
    mint: () => new Promise<MintedToken>((resolve, reject) => w.mints.push({ resolve, reject })),
    initial: options.initial?.(w.now),
    onToken: (minted) => w.events.push(`onToken ${minted.token}`),
    log: (line) => w.logs.push(line),
    now: () => w.now,
    setTimer: (run, ms) => {
      const timer: Timer = { run, ms, cleared: false };
      w.timers.push(timer);
      return timer;
    },
    clearTimer: (timer) => {
      (timer as Timer).cleared = true;
    },
    random: options.random ?? (() => 0.5),
  });
  return { w, keeper };
}

// start(): an initial token that still works is taken as it is; otherwise the first token is minted.
describe('start', () => {
  test('a usable initial token: no mint, the next one scheduled at 3/4 of its remaining life', async () => {
    const { w, keeper } = world({ initial: initialFor(40) });
    const first = await keeper.start();
    expect(first.token).toBe('initial');
    expect(w.mints).toHaveLength(0);
    expect(w.live().map((timer) => timer.ms)).toEqual([30 * MINUTE]);
    expect(w.events).toEqual(['onToken initial']);
    expect(keeper.stats()).toEqual({
      refreshes: 0,
      mintFailures: 0,
      lastError: undefined,
      expiresAt: new Date(T0 + 40 * MINUTE).toISOString(),
    });
  });

  test('an initial token about to expire (1 s left) is not used: the first token is minted', async () => {
    const { w, keeper } = world({ initial: (now) => minted('old', now + 1_000) });
    const started = keeper.start();
    expect(w.mints).toHaveLength(1);
    await w.answer(0, w.token('first', 60));
    expect((await started).token).toBe('first');
    expect(w.live().map((timer) => timer.ms)).toEqual([45 * MINUTE]);
    expect(keeper.stats().refreshes).toBe(0);
  });

  test('no initial token: start() mints, and rejects when that mint fails', async () => {
    const { w, keeper } = world();
    const started = keeper.start();
    expect(w.mints).toHaveLength(1);
    const rejected = expect(started).rejects.toThrow('Google is down');
    await w.answer(0, new Error('Google is down'));
    await rejected;
    expect(keeper.stats().mintFailures).toBe(1);
  });
});

// The scheduled refresh, and what current()/refreshNow() hand out around it.
describe('refreshing', () => {
  test('the scheduled callback mints, counts a refresh and reschedules; onToken runs before the token is handed out', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    w.now += 45 * MINUTE;
    await w.fire();
    expect(w.mints).toHaveLength(1);
    w.now += 15 * MINUTE; // the initial token is now expired: a caller waits for the mint in flight
    const handed = keeper.current().then((minted) => w.events.push(`handed ${minted.token}`));
    await w.answer(0, w.token('second', 60));
    await handed;
    expect(w.events).toEqual(['onToken initial', 'onToken second', 'handed second']);
    expect(w.mints).toHaveLength(1);
    expect(keeper.stats().refreshes).toBe(1);
    expect(w.live().map((timer) => timer.ms)).toEqual([45 * MINUTE]);
  });

  test('current() returns the cached token while usable, and mints once it is not', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    w.now += 59 * MINUTE; // one minute left: still usable
    for (let i = 0; i < 5; i++) expect((await keeper.current()).token).toBe('initial');
    expect(w.mints).toHaveLength(0);
    w.now += MINUTE - 1_000; // one second left: not handed out any more
    const next = keeper.current();
    expect(w.mints).toHaveLength(1);
    await w.answer(0, w.token('fresh', 60));
    expect((await next).token).toBe('fresh');
    expect(keeper.stats().refreshes).toBe(1);
  });

  test('concurrent current() and refreshNow() calls share one mint', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    w.now += 61 * MINUTE;
    const waiting = [keeper.current(), keeper.refreshNow('initial'), keeper.current(), keeper.refreshNow('initial')];
    expect(w.mints).toHaveLength(1);
    await w.answer(0, w.token('shared', 60));
    expect((await Promise.all(waiting)).map((minted) => minted.token)).toEqual(['shared', 'shared', 'shared', 'shared']);
    expect(keeper.stats().refreshes).toBe(1);
  });

  test('refreshNow(stale): a current token other than the stale one is returned; the stale one itself is replaced', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    expect((await keeper.refreshNow('some-older-token')).token).toBe('initial');
    expect(w.mints).toHaveLength(0);
    const replaced = keeper.refreshNow('initial');
    expect(w.mints).toHaveLength(1);
    await w.answer(0, w.token('replacement', 60));
    expect((await replaced).token).toBe('replacement');
    expect((await keeper.current()).token).toBe('replacement');
    expect(keeper.stats().refreshes).toBe(1);
  });
});

// Failed mints: reported (explained, never a secret), retried with jittered backoff, never fatal while a token works.
describe('failures', () => {
  const SECRET = 'refresh-token-1//0gSECRETvalue';
  registerSecret(SECRET);

  test('a failed mint is recorded explained and redacted, and retried 50–100 % of 2 s', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    w.now += 45 * MINUTE;
    await w.fire();
    await w.answer(0, new ActionError(`Google refused the grant ${SECRET}.`, 'Sign in again.'));
    const stats = keeper.stats();
    expect(stats.lastError).toBe('Google refused the grant ***.\nSign in again.');
    expect(stats.mintFailures).toBe(1);
    expect(JSON.stringify(stats)).not.toContain('0gSECRET');
    expect(w.logs.join('\n')).not.toContain('0gSECRET');
    expect(w.logs.at(-1)).toContain('attempt 1');
    expect(w.live().map((timer) => timer.ms)).toEqual([1_500]); // random() = 0.5: 2 s · (50 % + 0.5 · 50 %)
  });

  test.each([
    [0, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]],
    [1, [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]],
  ])('random() = %d: retry delays double from 2 s to the 60 s cap, jittered to 50–100 %%', async (random, delays) => {
    const { w, keeper } = world({ random: () => random });
    const started = keeper.start().catch((error: unknown) => error);
    await w.answer(0, new Error('unavailable'));
    expect(await started).toBeInstanceOf(Error);
    const seen = [w.live()[0]!.ms];
    for (let i = 1; i < delays.length; i++) {
      await w.fire();
      await w.answer(i, new Error('unavailable'));
      seen.push(w.live()[0]!.ms);
    }
    expect(seen).toEqual(delays);
    expect(keeper.stats()).toMatchObject({ mintFailures: 7, lastError: 'Unexpected error: unavailable' });
  });

  test('a success resets the backoff and clears lastError', async () => {
    const { w, keeper } = world({ random: () => 0 });
    const started = keeper.start().catch(() => undefined);
    await w.answer(0, new Error('unavailable'));
    await started;
    await w.fire();
    await w.answer(1, new Error('unavailable'));
    expect(w.live()[0]!.ms).toBe(2_000);
    await w.fire();
    await w.answer(2, w.token('back', 60));
    // refreshes is not asserted: keeper.ts counts this first-ever token as a refresh (the retry timer mints with refresh=true)
    expect(keeper.stats()).toMatchObject({ lastError: undefined, mintFailures: 2 });
    expect(w.live()[0]!.ms).toBe(45 * MINUTE);
    w.now += 45 * MINUTE;
    await w.fire();
    await w.answer(3, new Error('unavailable again'));
    expect(w.live()[0]!.ms).toBe(1_000);
  });

  test('while the old token still works, a failed refresh keeps handing it out', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    w.now += 45 * MINUTE;
    await w.fire();
    await w.answer(0, new Error('unavailable'));
    w.now += 10 * MINUTE; // five minutes left
    expect((await keeper.current()).token).toBe('initial');
    expect(w.mints).toHaveLength(1);
    expect(keeper.stats()).toMatchObject({
      mintFailures: 1,
      lastError: 'Unexpected error: unavailable',
      expiresAt: new Date(T0 + 60 * MINUTE).toISOString(),
    });
  });
});

// stop(): no timer left behind, nothing scheduled later, and no token handed out that IAP would refuse.
describe('stop', () => {
  test('clears the timer; current() serves a usable token, then rejects without minting', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    const timer = w.timers[0]!;
    keeper.stop();
    expect(timer.cleared).toBe(true);
    expect(w.live()).toHaveLength(0);
    expect((await keeper.current()).token).toBe('initial');
    w.now += 60 * MINUTE;
    await expect(keeper.current()).rejects.toThrow('the token agent has stopped');
    expect(w.mints).toHaveLength(0);
  });

  test('a mint that completes after stop() schedules nothing', async () => {
    const { w, keeper } = world({ initial: initialFor(60) });
    await keeper.start();
    w.now += 45 * MINUTE;
    await w.fire();
    keeper.stop();
    await w.answer(0, w.token('late', 60));
    expect(w.live()).toHaveLength(0);
  });
});

// Found by review: with no usable token and a mint that keeps failing, each request used to start a mint of its own.
describe('while a failed mint waits for its retry', () => {
  test('callers get its reason at once, and no new mint starts until the retry', async () => {
    const { w, keeper } = world();
    const first = keeper.start();
    await w.answer(0, new ActionError('the key was revoked'));
    await expect(first).rejects.toThrow('the key was revoked');
    for (let i = 0; i < 100; i++) await expect(keeper.current()).rejects.toThrow('the key was revoked');
    expect(w.mints).toHaveLength(1);
    await w.fire(); // the backoff's retry
    expect(w.mints).toHaveLength(2);
    await w.answer(1, w.token('fresh', 60));
    await expect(keeper.current()).resolves.toMatchObject({ token: 'fresh' });
  });
});
