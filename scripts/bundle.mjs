// Builds dist/ from src/ with esbuild. Run: npm run bundle. The freshness test imports `bundleOptions` and compares
// a fresh in-memory build with the committed dist/, so both always use these exact settings.
//
// Why esbuild: measured on this project's machine, the same use of @actions/core 3 started in 60–70 ms CPU bundled by
// esbuild, 130–150 ms by ncc and 180 ms by rollup (empty Node: 30 ms). See README, Development.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export const bundleOptions = {
  absWorkingDir: root,
  entryPoints: ['src/index.ts'],
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // Lazily imported modules land in their own chunks and cost nothing until a run needs them.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  minify: true,
  legalComments: 'linked',
  charset: 'utf8',
  alias: { undici: './scripts/undici-stub.mjs' },
  // CommonJS dependencies (tunnel) call require(); ESM output has none unless we make one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { rmSync } = await import('node:fs');
  rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
  await build(bundleOptions);
}
