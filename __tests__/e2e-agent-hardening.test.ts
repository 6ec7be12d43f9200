import { describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runJob, UNDER_TEST } from '../test-bed/runner.ts';
import { expectFailure, expectSuccess, run, useWorld, agentState, alive } from './e2e-helpers.ts';

/**
 * The bundled action where it must not trust what it is handed, and must not leave anything behind: a credentials
 * file's own URLs, a publish that fails once the agent runs, an agent that died, and a pid that is no longer ours.
 */

const world = useWorld();
const key = () => JSON.stringify(world.deployerKey);

/** Waits for a condition the kernel settles shortly (a signalled process going), looking at most 500 times. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let look = 0; look < 500; look++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`gave up waiting until ${what}`);
}

describe("a credentials file's URLs are held to the endpoint rule", () => {
  test('a key whose token_uri is plain http elsewhere fails, naming the field, before any request; loopback works', async () => {
    // No oauth2 override: the key's own token_uri is where the assertion would go.
    const options = { env: { GHA_ENDPOINT_OVERRIDE_oauth2: '' } };
    const evil = { ...world.deployerKey, token_uri: 'http://user:pw@evil.example/token?key=abc' };
    const error = expectFailure(await run(world, { audience: world.audience, credentials_json: JSON.stringify(evil) }, options));
    expect(error).toBe(
      'Input credentials_json: token_uri must be an https:// URL (http:// is accepted only for localhost), got http://evil.example',
    );
    expect(world.fake.count()).toBe(0);
    // The fake's key names its own token endpoint on 127.0.0.1.
    expect(world.deployerKey['token_uri']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth2\/token$/);
    expectSuccess(await run(world, { audience: world.audience, credentials_json: key() }, options));
    expect(world.fake.count('oauth2')).toBe(1);
  });
});

describe('the agent outlives nothing it should not', () => {
  test('a publish that fails once the agent runs stops the agent and removes its token file', async () => {
    // /dev/full opens for appending (publish's early check passes) and fails the write itself, as a full disk does.
    const inputs = { audience: world.audience, credentials_json: key(), keep_fresh: 'true' };
    // Looked at as the job's next step would, before the job's folder (RUNNER_TEMP) is cleaned up.
    await runJob(inputs, { env: { GITHUB_OUTPUT: '/dev/full' } }, async (main) => {
      expect(expectFailure(main)).toContain('ENOSPC');
      // The state is saved before the outputs, so it names the agent that was started.
      const { pid, tokenFile } = agentState(main);
      expect(tokenFile).toMatch(/\/iap-token-\w+\/token$/);
      expect(existsSync(tokenFile)).toBe(false);
      expect(alive(pid)).toBe(false);
    });
  });

  test("an agent killed during the job: the post step's error reads as written, not as an unexpected error", async () => {
    const { post } = await runJob({ audience: world.audience, credentials_json: key(), keep_fresh: 'true' }, {}, async (main) => {
      expectSuccess(main);
      const { pid } = agentState(main);
      process.kill(pid, 'SIGKILL');
      await until(() => !alive(pid), 'the killed agent is gone');
    });
    expect(post.exitCode).toBe(1);
    expect(post.errors).toHaveLength(1);
    expect(post.errors[0]).not.toMatch(/^Unexpected error/);
    expect(post.errors[0]).toMatch(/^The token agent stopped before the end of the job: /);
  });
});

describe("the post step signals only this run's agent", () => {
  test("a live process of ours under the state's pid, but of another run, is left alone and the agent reported gone", async () => {
    // Another run's agent, as far as today's name check can tell: its command line names agent.cjs, with another id.
    const args = ['-e', 'setInterval(() => {}, 1000)', join(UNDER_TEST, 'dist', 'agent.cjs'), '--run', 'b'.repeat(32)];
    const other = spawn(process.execPath, args, { stdio: 'ignore' });
    try {
      await new Promise((resolve, reject) => other.once('spawn', resolve).once('error', reject));
      const pid = other.pid ?? 0;
      // What the runner hands the post step as its state (STATE_agent): this run's id, and a pid since reused.
      const state = JSON.stringify({ pid, run: 'a'.repeat(32), tokenFile: '', statsFile: '', logFile: '' });
      const { post } = await runJob({ audience: world.audience, credentials_json: key() }, { env: { STATE_agent: state } });
      expect(alive(pid)).toBe(true);
      expect(post.exitCode).toBe(1);
      expect(post.errors[0]).toBe('The token agent stopped before the end of the job: no reason was recorded.');
    } finally {
      await stopChild(other);
    }
  });
});

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
