// scripts/bundle.mjs matches module paths; esbuild gives them with '\' on a Windows clone. These feed the matchers and
// the plugins Windows paths, so a clone on Windows builds the same dist/ as one on Linux or macOS.
import { expect, test } from '@jest/globals';
import type { OnResolveArgs, OnResolveResult, PluginBuild, ResolveOptions } from 'esbuild';
import { PLUGINS, fromActionsToolkit, packageOf } from '../scripts/bundle.mjs';

const WINDOWS_CORE = 'C:\\work\\iap-token\\node_modules\\@actions\\core\\lib\\core.js';
const POSIX_CORE = '/work/iap-token/node_modules/@actions/core/lib/core.js';
const WINDOWS_OWN = 'C:\\work\\iap-token\\src\\http\\reverse-proxy.ts';

test("the toolkit's modules are recognised whichever separator their path uses", () => {
  expect(fromActionsToolkit(POSIX_CORE)).toBe(true);
  expect(fromActionsToolkit(WINDOWS_CORE)).toBe(true);
  expect(fromActionsToolkit('C:\\work\\iap-token\\node_modules\\@actions\\http-client\\lib\\index.js')).toBe(true);
  expect(fromActionsToolkit('/work/iap-token/src/http/reverse-proxy.ts')).toBe(false);
  expect(fromActionsToolkit(WINDOWS_OWN)).toBe(false);
  expect(fromActionsToolkit('C:\\work\\iap-token\\node_modules\\google-auth-library\\build\\src\\index.js')).toBe(false);
});

test('a bundle input names the same package whichever separator its path uses', () => {
  for (const [input, dir] of [
    ['node_modules/@actions/core/lib/core.js', 'node_modules/@actions/core'],
    ['node_modules\\@actions\\core\\lib\\core.js', 'node_modules/@actions/core'],
    ['node_modules\\tunnel\\lib\\tunnel.js', 'node_modules/tunnel'],
    [
      'node_modules\\google-auth-library\\node_modules\\gaxios\\build\\src\\index.js',
      'node_modules/google-auth-library/node_modules/gaxios',
    ],
    ['src\\http\\client.ts', undefined],
    ['src/http/client.ts', undefined],
  ] as const)
    expect({ input, dir: packageOf(input) }).toEqual({ input, dir });
});

type Handler = (args: OnResolveArgs) => OnResolveResult | undefined | Promise<OnResolveResult | undefined>;

/** Runs every plugin's onResolve handlers for one import, as esbuild would, with a resolver that finds everything. */
async function resolveWith(args: Partial<OnResolveArgs>): Promise<(OnResolveResult | undefined)[]> {
  const handlers: { filter: RegExp; handler: Handler }[] = [];
  const build = {
    onResolve: (options: { filter: RegExp }, handler: Handler) => handlers.push({ filter: options.filter, handler }),
    resolve: (path: string, _options: ResolveOptions) => Promise.resolve({ path: `resolved:${path}`, errors: [], external: false }),
  } as unknown as PluginBuild;
  for (const plugin of PLUGINS) await plugin.setup(build);
  const full = {
    path: '',
    importer: '',
    namespace: 'file',
    resolveDir: '',
    kind: 'require-call',
    pluginData: undefined,
    with: {},
    ...args,
  };
  return Promise.all(handlers.filter(({ filter }) => filter.test(full.path)).map(async ({ handler }) => handler(full as OnResolveArgs)));
}

test("a Windows path inside the toolkit still makes its imports side-effect free and gets undici's stand-in", async () => {
  for (const importer of [POSIX_CORE, WINDOWS_CORE]) {
    const [sideEffectFree, undici] = await resolveWith({ path: 'undici', importer });
    expect(sideEffectFree).toMatchObject({ sideEffects: false });
    expect(undici?.path).toMatch(/undici-stub\.mjs$/);
    const [relative] = await resolveWith({ path: './utils', importer });
    expect(relative).toMatchObject({ path: 'resolved:./utils', sideEffects: false });
  }
});

test('a Windows path of our own code keeps its imports as they are and gets the real undici', async () => {
  expect(await resolveWith({ path: 'undici', importer: WINDOWS_OWN })).toEqual([undefined, undefined]);
  expect(await resolveWith({ path: './failures.ts', importer: WINDOWS_OWN })).toEqual([undefined]);
  // A toolkit import from our own code is the toolkit's module: side-effect free.
  expect(await resolveWith({ path: '@actions/core', importer: WINDOWS_OWN })).toEqual([
    { path: 'resolved:@actions/core', errors: [], external: false, sideEffects: false },
  ]);
});
