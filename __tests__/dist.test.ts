import { expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bundle } from '../scripts/bundle.mjs';
import { ROOT, UNDER_TEST } from '../test-bed/runner.ts';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

test('dist/ is exactly a fresh bundle of src/ (run `npm run bundle` and commit dist/)', async () => {
  const fresh = await bundle();
  const dist = join(ROOT, 'dist');
  const committed = new Map(listFiles(dist).map((path) => [relative(dist, path), readFileSync(path, 'utf8')]));
  expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
  for (const [path, text] of fresh) expect({ path, same: committed.get(path) === text }).toEqual({ path, same: true });
});

test('the end-to-end tests run a bundle of the current src/, not the committed dist/', () => {
  expect(UNDER_TEST).not.toBe(ROOT);
  expect(readFileSync(join(UNDER_TEST, 'action.yml'), 'utf8')).toBe(readFileSync(join(ROOT, 'action.yml'), 'utf8'));
});

test('dist/ is readable and lists the licence of every bundled package', () => {
  const index = readFileSync(join(ROOT, 'dist', 'index.cjs'), 'utf8');
  // Unminified: our own function names survive, one statement a line.
  expect(index).toContain('function readConfig(');
  expect(index).toContain('function createMinter(');
  const licences = readFileSync(join(ROOT, 'dist', 'licenses.txt'), 'utf8');
  for (const name of ['@actions/core@', '@actions/http-client@', 'google-auth-library@', 'tunnel@']) expect(licences).toContain(name);
});
