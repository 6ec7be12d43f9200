import { describe, expect, test } from '@jest/globals';
import { DEPLOYER, useWorld } from './e2e-helpers.ts';
import { runInProcess } from './in-process.ts';

/**
 * `run()` in this process, as src/index.ts calls it: inputs from INPUT_*, the runner's files from GITHUB_*, the log
 * on standard output. Fast, and it proves the flow itself (no bundle involved); the e2e tests run the bundle.
 */

const world = useWorld();

/** Runs the action with these inputs only, as a runner that does not fill action.yml's defaults (local-action) does. */
async function runAction(
  inputs: Record<string, string>,
): Promise<{ log: readonly string[]; outputs: string; env: string; summary: string; exitCode: number }> {
  const result = await runInProcess(world, inputs, { runnerDefaults: false });
  return { log: result.log, outputs: result.outputFile, env: result.envFile, summary: result.summary, exitCode: Number(result.exitCode) };
}

describe('run()', () => {
  test('mints, masks before anything else is logged, and publishes outputs, the variable and the summary', async () => {
    const result = await runAction({ audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) });
    expect(result.exitCode).toBe(0);
    // Unset export_variable takes action.yml's default (IAP_TOKEN), as with a runner that does not fill defaults.
    expect(result.env).toMatch(/^IAP_TOKEN<</);
    expect(result.outputs).toContain('token<<');
    expect(result.outputs).toContain(`principal<<ghadelimiter`);
    expect(result.summary).toContain(DEPLOYER);
    const token = /token<<(\S+)\n([^\n]+)\n/.exec(result.outputs)?.[2] ?? '';
    expect(token.split('.')).toHaveLength(3);
    const firstMask = result.log.findIndex((line) => line === `::add-mask::${token}`);
    const firstMention = result.log.findIndex((line) => line.includes(token) && !line.startsWith('::add-mask::'));
    expect(firstMask).toBeGreaterThanOrEqual(0);
    expect(firstMention).toBe(-1);
    expect(result.log.some((line) => line.startsWith(`Credential: service-account key for ${DEPLOYER}`))).toBe(true);
  });

  test('a bad input: one ::error:: naming the input, no request, no output', async () => {
    const result = await runAction({ audience: world.audience, token_type: 'jwt' });
    expect(result.exitCode).toBe(1);
    expect(result.log.filter((line) => line.startsWith('::error::'))).toEqual([
      expect.stringMatching(/^::error::Input token_type: must be auto /),
    ]);
    expect(world.fake.count()).toBe(0);
    expect([result.outputs, result.env]).toEqual(['', '']);
  });

  test('a refusal from Google: the error with its remedy, and nothing published', async () => {
    world.fake.inject('oauth2', {
      status: 400,
      body: JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }),
    });
    const result = await runAction({ audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) });
    expect(result.exitCode).toBe(1);
    const error = result.log.find((line) => line.startsWith('::error::')) ?? '';
    expect(error).toContain('invalid_grant');
    expect(error).toContain('Fix: the key in credentials_json was deleted, disabled or replaced.');
    expect([result.outputs, result.env]).toEqual(['', '']);
  });
});
