import { expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readActionYaml, ROOT } from '../test-bed/runner.ts';
import { INPUT_DEFAULTS } from '../src/inputs/index.ts';
import { OUTPUT_NAMES } from '../src/publish.ts';

/** Every source file's text, to find which inputs the code reads and which outputs it sets. */
function sources(dir = join(ROOT, 'src')): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((entry) => (entry.isDirectory() ? sources(join(dir, entry.name)) : readFileSync(join(dir, entry.name), 'utf8')))
    .join('\n');
}

test("action.yml declares exactly readConfig's inputs, each with the default the code applies when it is not given", () => {
  const declared = Object.fromEntries(Object.entries(readActionYaml().inputs).map(([name, spec]) => [name, spec.default ?? '']));
  expect(declared).toEqual(INPUT_DEFAULTS);
});

test('action.yml declares exactly the outputs publish sets', () => {
  expect(Object.keys(readActionYaml().outputs).sort()).toEqual([...OUTPUT_NAMES].sort());
});

test('the action runs on node24 from dist/, and .node-version agrees', () => {
  const { runs } = readActionYaml();
  expect(runs).toEqual({ using: 'node24', main: 'dist/index.cjs', post: 'dist/post.cjs', 'post-if': 'always()' });
  expect(readFileSync(join(ROOT, '.node-version'), 'utf8').trim()).toBe('24');
});

test('no input is required: the audience may follow from the app URL (token_type auto)', () => {
  const required = Object.entries(readActionYaml().inputs)
    .filter(([, spec]) => spec.required)
    .map(([name]) => name);
  expect(required).toEqual([]);
});

/** The first column of the README table under `## heading`, as names. */
function readmeTable(heading: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0] ?? '';
  return [...section.matchAll(/^\| `([a-z_]+)`\s+\|/gm)].map((m) => m[1] ?? '');
}

test('the README documents every input and output of action.yml, and no other', () => {
  const action = readActionYaml();
  expect(readmeTable('Inputs').sort()).toEqual(Object.keys(action.inputs).sort());
  expect(readmeTable('Outputs').sort()).toEqual(Object.keys(action.outputs).sort());
});

test("every error the README's troubleshooting table quotes is one the action (or Google) really says", () => {
  const corpus = [sources(), sources(join(ROOT, 'test-bed', 'fake-google'))].join('\n');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.split('\n## Troubleshooting\n')[1]?.split('\n## ')[0] ?? '';
  const quoted = [...table.matchAll(/^\| ([^|]+)\|/gm)]
    .slice(2)
    .flatMap((row) => [...(row[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''));
  expect(quoted.length).toBeGreaterThan(15);
  // The parts the code formats (status, attempts, what failed) are not literal in the source; the rest is.
  const fragments = quoted
    .flatMap((text) => text.split(/…| failed(?: after \d+ attempts)?:|HTTP \d{3}(?: [A-Za-z_]+)?:?|^Input [a-z_]+:|\b[a-z]+_[a-z_]+:/))
    .map((fragment) => fragment.trim().replace(/[.:]$/, ''))
    .filter((fragment) => fragment.length >= 8);
  const missing = fragments.filter((fragment) => !corpus.includes(fragment));
  expect(missing).toEqual([]);
});

test('action.yml is fit for the Marketplace: a short description naming both token kinds and smoke tests, its own branding', () => {
  const action = readFileSync(join(ROOT, 'action.yml'), 'utf8');
  const description = /^description: (.+)$/m.exec(action)?.[1] ?? '';
  expect(description.length).toBeLessThanOrEqual(125);
  expect(description).toMatch(/ID token/);
  expect(description).toMatch(/JWT/);
  expect(description).toMatch(/smoke-test/);
  expect(action).toMatch(/^author: \S/m);
  expect(action).toMatch(/icon: shield\n {2}color: green/);
  expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toContain('Apache License');
});
