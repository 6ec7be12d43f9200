import { expect, test } from '@jest/globals';
import { build } from 'esbuild';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
// @ts-expect-error: a plain ESM script without type declarations
import { bundleOptions } from '../scripts/bundle.mjs';
import { ROOT } from '../test-bed/runner.ts';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

test('dist/ is exactly a fresh bundle of src/ (run `npm run bundle` and commit dist/)', async () => {
  const result = await build({ ...(bundleOptions as object), write: false });
  const fresh = new Map(result.outputFiles.map((file) => [relative(ROOT, file.path), file.text]));
  const committed = new Map(listFiles(join(ROOT, 'dist')).map((path) => [relative(ROOT, path), readFileSync(path, 'utf8')]));
  expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
  for (const [path, text] of fresh) expect({ path, same: committed.get(path) === text }).toEqual({ path, same: true });
});
