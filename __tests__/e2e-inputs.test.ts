import { expect, test } from '@jest/globals';
import { expectFailure, run, useWorld } from './e2e-helpers.ts';

/**
 * A bad input as the runner sees the step, from the bundle in its own process. Every input's own error is checked
 * in process (action-inputs.test.ts, inputs.test.ts): this is what only a process shows, once.
 */

const world = useWorld();

test('a bad input: exit code 1, one ::error:: line, no stack trace, the secret it carried not shown, nothing published', async () => {
  const secretish = '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEsecretsecret';
  // run() checks that no secret the fake knows, nor the credentials_json given, is visible, and that stderr is empty.
  const result = await run(world, { audience: world.audience, credentials_json: secretish });
  // Exit code 1, one error, and no output or variable (GITHUB_OUTPUT and GITHUB_ENV empty).
  expect(expectFailure(result)).toBe(
    'Input credentials_json: is neither JSON nor base64-encoded JSON. Paste the whole key file (or its base64) into a secret.',
  );
  expect(result.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([
    '::error::Input credentials_json: is neither JSON nor base64-encoded JSON. Paste the whole key file (or its base64) into a secret.',
  ]);
  expect(result.stdout).not.toMatch(/\n\s+at /); // no stack trace, on either stream
  expect(result.visibleLog.join('\n')).not.toContain('MIIEsecretsecret');
  expect({ state: result.state, summary: result.summary }).toEqual({ state: '', summary: '' });
  expect(world.fake.count()).toBe(0);
});
