import { describe, expect, test } from '@jest/globals';
import { claimsOf, DEPLOYER, startCli, useWorld, useCliWorkspace, type Cli } from './e2e-helpers.ts';

/**
 * The CLI's edges that a person does not see until they bite (issue 21, points 8 to 10): what `token --exec` passes
 * on to its command (signals, environment), what a hostile server's text can do to the terminal, and environment
 * variables exported for one command that must not break another. Run from the bundle against the fake Google.
 */

const world = useWorld();
const workspace = useCliWorkspace(world, 'iap-token-hardening-');

/** Starts the bundled CLI with only the fake's endpoints (and `env`) in its environment; killed after the test. */
const cli = (args: readonly string[], env: Record<string, string> = {}): Cli =>
  startCli(world, args, { home: workspace.dir, env, running: workspace.running });

const idToken = (): string[] => ['--audience', world.audience, '--credentials-file', workspace.keyPath];

describe('token --exec passes signals on to its command', () => {
  /**
   * A shell that traps the signal, says so and exits with its own code. `sleep & wait` because a shell runs a trap
   * only between commands: `wait` is interrupted at once, a foreground sleep would be waited out. The sleep (bounded,
   * its output away from the test's pipes) is killed by the trap.
   */
  const trapping = (signal: string, exitCode: number): string[] => [
    'sh',
    '-c',
    `trap 'echo "child got ${signal}"; kill $pid; exit ${exitCode}' ${signal}; sleep 30 >/dev/null 2>&1 & pid=$!; echo ready; wait $pid`,
  ];

  test.each([
    ['SIGTERM', 'TERM', 7],
    ['SIGINT', 'INT', 9],
    ['SIGHUP', 'HUP', 11],
  ] as const)('%s to the CLI reaches the command, and the CLI exits with its code', async (signal, name, exitCode) => {
    const run = cli(['token', ...idToken(), '--exec', '--', ...trapping(name, exitCode)]);
    await run.waitFor(/^ready$/m, { stream: 'stdout' });
    run.child.kill(signal);
    const { code, stdout } = await run.done;
    expect({ code, stdout }).toEqual({ code: exitCode, stdout: `ready\nchild got ${name}\n` });
  });

  test('a command that does not trap SIGTERM dies of it, and the CLI exits 128 + 15', async () => {
    // exec: the shell becomes the sleep, so nothing is left behind holding the test's pipes.
    const run = cli(['token', ...idToken(), '--exec', '--', 'sh', '-c', 'echo ready; exec sleep 30']);
    await run.waitFor(/^ready$/m, { stream: 'stdout' });
    run.child.kill('SIGTERM');
    expect(await run.done).toMatchObject({ code: 143, signal: null });
  });
});

describe("token --exec gives its command the token, not the CLI's secrets", () => {
  test('IAP_TOKEN is set; IAP_TOKEN_REFRESH_TOKEN and IAP_TOKEN_CLIENT_SECRET, read by the CLI, are not', async () => {
    const user = world.fake.addUser('alice@example.com');
    const printEnv = [process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.env))'];
    const { code, stdout, stderr } = await cli(
      ['token', '--audience', world.audience, '--client-id', user.clientId, '--exec', '--', ...printEnv],
      {
        IAP_TOKEN_REFRESH_TOKEN: user.refreshToken,
        IAP_TOKEN_CLIENT_SECRET: user.clientSecret,
      },
    ).done;
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.stringContaining('Minted an ID token for alice@example.com') });
    const childEnv = JSON.parse(stdout) as Record<string, string>;
    expect(claimsOf(childEnv['IAP_TOKEN'] ?? '')).toMatchObject({ email: 'alice@example.com', aud: world.audience });
    expect(Object.keys(childEnv)).not.toContain('IAP_TOKEN_REFRESH_TOKEN');
    expect(Object.keys(childEnv)).not.toContain('IAP_TOKEN_CLIENT_SECRET');
    // Under no other name either.
    expect(stdout).not.toContain(user.refreshToken);
    expect(stdout).not.toContain(user.clientSecret);
  });
});

describe("a server's terminal escapes never reach the terminal", () => {
  /** OSC 52 (write the clipboard), an OSC 8 link, a screen clear, a title change, and C1's one-byte CSI. */
  const HOSTILE =
    'Bad grant \x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07 see \x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\ \x1b[2J\x1b]0;pwned\x07\u009b31m end\r\nnext line';

  test("the token endpoint's error text: no control character but \\n and \\t on standard error, and still readable", async () => {
    world.fake.inject('oauth2', {
      status: 400,
      body: JSON.stringify({ error: 'invalid_grant', error_description: HOSTILE }),
    });
    const { code, stdout, stderr } = await cli(['token', ...idToken()]).done;
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    // Characters, not bytes: UTF-8 spells ordinary characters (✓, →) with bytes 0x80–0x9F; U+0080–U+009F are C1.
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    expect([...stderr.matchAll(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g)].map(([char]) => char)).toEqual([]);
    expect(stderr).toContain('HTTP 400 invalid_grant');
    // Each escape a space: the words either side stay apart, and what the server tried is there to read.
    expect(stderr).toMatch(/Bad grant +\]52;c;Y3VybCBldmlsIHwgc2g= +see +\]8;;https:\/\/evil\.example\/ .*here.* end \nnext line/);
  });
});

describe('environment variables apply only where they fit', () => {
  test('IAP_TOKEN_CLIENT_SECRET exported (for login) does not break token --credentials-file; --client-secret given does', async () => {
    const exported = await cli(['token', ...idToken()], { IAP_TOKEN_CLIENT_SECRET: 'GOCSPX-for-login-only' }).done;
    expect({ code: exported.code, stderr: exported.stderr.includes('--client-secret') }).toEqual({ code: 0, stderr: false });
    expect(claimsOf(exported.stdout.trim())).toMatchObject({ email: DEPLOYER, aud: world.audience });
    // A flag given explicitly keeps its error: the person asked for a refresh token's secret with no refresh token.
    const given = await cli(['token', ...idToken(), '--client-secret', 'GOCSPX-given']).done;
    expect(given.code).toBe(2);
    expect(given.stderr).toContain('--client-secret: goes with --refresh-token, which is not set');
  });

  test('IAP_TOKEN_REFRESH_TOKEN exported: --credentials-file still chooses the key, and the refresh token is not used', async () => {
    const user = world.fake.addUser('alice@example.com');
    const { code, stdout } = await cli(['token', ...idToken()], {
      IAP_TOKEN_REFRESH_TOKEN: user.refreshToken,
      IAP_TOKEN_CLIENT_SECRET: user.clientSecret,
    }).done;
    expect(code).toBe(0);
    // The key's account, by the JWT-bearer grant: one request to the token endpoint, none a refresh grant.
    expect(claimsOf(stdout.trim())).toMatchObject({ email: DEPLOYER, aud: world.audience });
    expect(world.fake.count('oauth2')).toBe(1);
  });
});
