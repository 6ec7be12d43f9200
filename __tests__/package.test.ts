import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The published CLI package as a person gets it: `npm pack` of this checkout, then `npm install -g` of the tarball
// into an empty prefix. It must work, carry no runtime dependency, and stay under 1 MB installed.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// npm and the installed command run on the Node 24 the npm scripts use (this machine's own Node is older).
const NODE_BIN = dirname(process.execPath);
const env = { ...process.env, PATH: `${NODE_BIN}:${process.env['PATH'] ?? ''}`, npm_config_update_notifier: 'false' };
let dir = '';
let packed: { files: Array<{ path: string }>; filename: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'iap-token-package-'));
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env, encoding: 'utf8' });
  packed = (JSON.parse(json) as Array<typeof packed>)[0] ?? { files: [], filename: '' };
  execFileSync(
    'npm',
    ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', join(dir, 'prefix'), join(dir, packed.filename)],
    {
      env,
      stdio: 'pipe',
    },
  );
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes on disk under `path`, counted in the 4 KiB blocks a file system allocates. */
function diskBytes(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return Math.ceil(stat.size / 4096) * 4096;
  return readdirSync(path).reduce((sum, name) => sum + diskBytes(join(path, name)), 4096);
}

test('the tarball holds the CLI, its licences, the README, LICENSE and CHANGELOG; nothing of the action or the sources', () => {
  expect(packed.files.map((file) => file.path).sort()).toEqual([
    'CHANGELOG.md',
    'LICENSE',
    'README.md',
    'dist/cli.cjs',
    'dist/google-auth.cjs',
    'dist/licenses.txt',
    'package.json',
  ]);
});

test('installed into an empty prefix: a working iap-token, no dependencies, under 1 MB', () => {
  const installed = join(dir, 'prefix', 'lib', 'node_modules', 'iap-token');
  expect(readdirSync(installed)).not.toContain('node_modules');
  expect(diskBytes(installed)).toBeLessThan(1_000_000);
  const bin = join(dir, 'prefix', 'bin', 'iap-token');
  const version = spawnSync(bin, ['--version'], { env, encoding: 'utf8' });
  expect(version).toMatchObject({ status: 0, stdout: expect.stringMatching(/^iap-token \d+\.\d+\.\d+\n$/) });
  const help = spawnSync(bin, ['doctor', '--help'], { env, encoding: 'utf8' });
  expect(help).toMatchObject({ status: 0, stdout: expect.stringContaining('Usage: iap-token doctor URL') });
  // A usage error comes from the bundled code itself (a missing module would fail differently).
  const bad = spawnSync(bin, ['token', '--nope'], { env, encoding: 'utf8' });
  expect(bad).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown option --nope') });
});
