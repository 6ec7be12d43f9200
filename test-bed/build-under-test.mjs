// Jest's global set-up: bundles the current src/ into a fresh folder laid out as the action's repository (action.yml
// beside dist/), and points the end-to-end tests at it (IAP_TOKEN_UNDER_TEST), so no e2e test ever runs a stale
// bundle. Whether the committed dist/ is that same bundle is __tests__/dist.test.ts's question.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, writeBundle } from '../scripts/bundle.mjs';

export default async function buildUnderTest() {
  const dir = mkdtempSync(join(tmpdir(), 'iap-token-under-test-'));
  await writeBundle(join(dir, 'dist'));
  copyFileSync(join(ROOT, 'action.yml'), join(dir, 'action.yml'));
  process.env['IAP_TOKEN_UNDER_TEST'] = dir;
  globalThis.iapTokenUnderTest = dir;
}

export function removeBuild() {
  const dir = globalThis.iapTokenUnderTest;
  if (dir) rmSync(dir, { recursive: true, force: true });
}
