import { afterAll, describe, expect, test } from '@jest/globals';
import type { Endpoint, Fault } from '../test-bed/fake-google/index.ts';
import { DEPLOYER, INVOKER, PROVIDER, REPO_MEMBER, run, startWorld, type World } from './e2e-helpers.ts';

/**
 * The fault matrix: every endpoint the action calls × every fault we can produce. Each cell runs the bundled action
 * and checks it either succeeds after bounded retries or fails with a clear message, in bounded time and requests.
 * The cells that wait (an answer slower than the timeout, a fault that never heals) each have a fake of their own and
 * run beside the rest; the quick cells of one endpoint share one fake and run in turn.
 */

interface Cell {
  readonly name: string;
  readonly faults: Fault[];
  /** heals: succeeds with `extra` more requests than a clean run; fails: a clear error after `maxRequests` at most. */
  readonly expect: 'heals' | 'fails';
  readonly extra?: number;
  readonly message?: RegExp;
  readonly maxRequests: number;
  readonly maxMs: number;
}

const HTML = {
  status: 200,
  headers: { 'content-type': 'text/html' },
  body: '<html><head><title>Proxy error</title></head><body>…</body></html>',
};
const NO_FIELD = { status: 200, body: '{"unexpected":true}' };

function cells(endpoint: Endpoint): Cell[] {
  const timeout = endpoint === 'metadata' ? 3_000 : endpoint === 'iap' ? 2_000 : 10_000;
  const attempts = endpoint === 'metadata' ? 3 : 5;
  const heals = (name: string, ...faults: Fault[]): Cell => ({ name, faults, expect: 'heals', maxRequests: 2, maxMs: 20_000 });
  const list: Cell[] = [
    heals('503 then success', { status: 503 }),
    heals('429 with Retry-After: 1', { status: 429, headers: { 'retry-after': '1' } }),
    heals('429 without Retry-After', { status: 429 }),
    heals('a reset connection', { reset: true }),
    heals('an answer slower than the timeout', { delayMs: timeout + 1_000 }),
  ];
  if (endpoint === 'iap') {
    // The app's own 200 is a pass whatever its body: no retry.
    list.push({ ...heals('an HTML page', HTML), extra: 0 }, { ...heals('JSON without the expected field', NO_FIELD), extra: 0 });
    list.push({
      name: 'persistent 503',
      faults: Array.from({ length: 30 }, () => ({ status: 503 })),
      expect: 'fails',
      message: /kept answering 503/,
      maxRequests: 31,
      maxMs: 15_000,
    });
    return list;
  }
  // A fault's answer lacks Metadata-Flavor: Google, so it is not believed to be the metadata server's.
  const notJwt = /did not come from a metadata server/;
  list.push(
    {
      name: 'an HTML page',
      faults: [HTML],
      expect: 'fails',
      message: endpoint === 'metadata' ? notJwt : /HTML page "Proxy error"/,
      maxRequests: 1,
      maxMs: 5_000,
    },
    {
      name: 'JSON without the expected field',
      faults: [NO_FIELD],
      expect: 'fails',
      message: endpoint === 'metadata' ? notJwt : /answered without \w+ \(fields: unexpected\)/,
      maxRequests: 1,
      maxMs: 5_000,
    },
    {
      name: 'persistent 503',
      faults: Array.from({ length: 10 }, () => ({ status: 503 })),
      expect: 'fails',
      message: new RegExp(`failed after ${attempts} attempts: HTTP 503`),
      maxRequests: attempts,
      maxMs: 35_000,
    },
  );
  return list;
}

function flow(world: World, endpoint: Endpoint): { inputs: Record<string, string>; env: Record<string, string> } {
  const audience = world.audience;
  switch (endpoint) {
    case 'github':
    case 'sts':
    case 'iamcredentials':
      return { inputs: { audience, workload_identity_provider: PROVIDER, service_account: INVOKER }, env: {} };
    case 'oauth2':
      return { inputs: { audience, credentials_json: JSON.stringify(world.deployerKey) }, env: {} };
    case 'metadata':
      return { inputs: { audience }, env: { GCE_METADATA_HOST: world.fake.metadataHost } };
    case 'accounts':
      throw new Error("the sign-in page is the CLI's, not the action's");
    case 'public':
      throw new Error('the public origin beside the app is for browser tests');
    case 'iap':
      return {
        inputs: {
          audience,
          credentials_json: JSON.stringify(world.deployerKey),
          smoke_test_urls: `${world.fake.appUrl}/healthz`,
          smoke_test_timeout: '2',
          smoke_test_retry_for: '10',
        },
        env: {},
      };
  }
}

const worlds: World[] = [];
afterAll(async () => Promise.all(worlds.map((world) => world.fake.stop())));

const ENDPOINTS: Endpoint[] = ['github', 'sts', 'iamcredentials', 'oauth2', 'metadata', 'iap'];

/** The slow cells alone, the quick ones together: each group is one test on a fake of its own. */
const SLOW = /slower than the timeout|persistent/;
const GROUPS = ENDPOINTS.flatMap((endpoint) => {
  const all = cells(endpoint);
  const slow = all.filter((cell) => SLOW.test(cell.name)).map((cell) => [endpoint, cell.name, [cell]] as const);
  return [[endpoint, 'the quick faults', all.filter((cell) => !SLOW.test(cell.name))] as const, ...slow];
});

describe('fault matrix', () => {
  test('the groups hold every cell once, and each endpoint has its two slow cells apart', () => {
    for (const endpoint of ENDPOINTS) {
      const groups = GROUPS.filter(([of]) => of === endpoint);
      const names = (list: readonly Cell[]) => list.map((cell) => cell.name).sort();
      expect(names(groups.flatMap(([, , group]) => group))).toEqual(names(cells(endpoint)));
      expect(groups.map(([, name, group]) => [name, group.length])).toEqual([
        ['the quick faults', 6],
        ['an answer slower than the timeout', 1],
        ['persistent 503', 1],
      ]);
    }
  });

  test.concurrent.each(GROUPS)(
    '%s × %s',
    async (endpoint, _name, group) => {
      const world = await startWorld();
      worlds.push(world);
      world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
      world.fake.metadata.serviceAccount = DEPLOYER;
      world.fake.markBaseline();
      const { inputs, env } = flow(world, endpoint);
      // A clean run first: how many requests this endpoint gets when nothing goes wrong.
      world.fake.reset();
      expect((await run(world, inputs, { env })).exitCode).toBe(0);
      const base = world.fake.count(endpoint);
      // Each cell's outcome, requests and time are asserted as it runs; a passing run prints nothing (npm run bench
      // prints the figures).
      for (const cell of group) {
        world.fake.reset();
        // The app's faults are for the request with the token: the check without it (is IAP there?) passes first.
        world.fake.inject(endpoint, ...(endpoint === 'iap' ? [{}] : []), ...cell.faults);
        const result = await run(world, inputs, { env });
        const requests = world.fake.count(endpoint);
        const ok = result.exitCode === 0;
        expect({ cell: cell.name, ok }).toEqual({ cell: cell.name, ok: cell.expect === 'heals' });
        expect(result.ms).toBeLessThan(cell.maxMs);
        if (cell.expect === 'heals') {
          expect({ cell: cell.name, requests }).toEqual({ cell: cell.name, requests: base + (cell.extra ?? 1) });
        } else {
          expect(requests).toBeLessThanOrEqual(cell.maxRequests);
          expect(result.errors).toHaveLength(1);
          expect(result.errors[0]).toMatch(cell.message ?? /./);
          expect(result.outputs).toEqual({});
        }
      }
    },
    120_000,
  );
});
