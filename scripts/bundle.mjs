// Builds dist/ from src/ with esbuild. Run: npm run bundle. The freshness test imports `bundleOptions` and compares
// a fresh in-memory build with the committed dist/, so both always use these exact settings.
//
// Measured on this machine (npm run bench; README, Development):
// - esbuild over ncc and rollup: the same use of @actions/core 3 started in 60–70 ms CPU bundled by esbuild,
//   130–150 ms by ncc, 180 ms by rollup (empty Node: 30 ms).
// - CommonJS output over ESM: the source is ESM, but an ESM bundle imports Node's built-ins as ES modules, and
//   Node 24 builds a namespace object for each, evaluating lazy getters (node:http's pulls in its WebSocket
//   support). As CommonJS the same code started in 56 ms CPU instead of 69 ms on the key flow.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

/**
 * @actions/core and @actions/http-client do nothing when their modules load, but do not say so (no "sideEffects" in
 * their package.json), so esbuild keeps every module they import: the OIDC client, which pulls in the HTTP client and
 * its tunnelling agent, and the platform helpers, which pull in child_process. Declaring them side-effect free lets
 * esbuild drop what the action never calls: measured, 1 ms less start-up CPU and 1 MB less memory... see README.
 */
const actionsToolkitIsSideEffectFree = {
  name: 'actions-toolkit-side-effect-free',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolving') return undefined;
      const fromToolkit = args.importer.includes('/node_modules/@actions/');
      if (!fromToolkit && !args.path.startsWith('@actions/')) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolving',
      });
      if (resolved.errors.length > 0 || resolved.external) return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

const root = fileURLToPath(new URL('..', import.meta.url));

export const bundleOptions = {
  absWorkingDir: root,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli/index.ts', 'google-auth': 'src/credentials/library-external-account.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  minify: true,
  legalComments: 'linked',
  charset: 'utf8',
  alias: { undici: './scripts/undici-stub.mjs' },
  plugins: [actionsToolkitIsSideEffectFree],
  logLevel: 'warning',
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { rmSync } = await import('node:fs');
  rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
  await build(bundleOptions);
}
