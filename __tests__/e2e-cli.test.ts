import { beforeEach, describe, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test-bed/runner.ts';
import { claimsOf, DEPLOYER, expectSuccess, run, startCli, useCliWorkspace, useWorld, type CliEnd } from './e2e-helpers.ts';

/** `iap-token login` and `iap-token token`, run from dist/ as npx would, against the fake Google. */
const world = useWorld((w) => w.fake.allow('user:alice@example.com'));
const workspace = useCliWorkspace(world, 'iap-token-cli-');
beforeEach(() => {
  world.fake.signIn.consent = true;
});

interface Cli {
  /** Resolves with the first text on standard error matching `pattern`. */
  waitFor(pattern: RegExp): Promise<string>;
  done: Promise<CliEnd>;
}

function cli(args: string[], env: Record<string, string> = {}): Cli {
  const started = startCli(world, args, { home: workspace.dir, env, running: workspace.running, killAfterMs: 30_000 });
  return { waitFor: async (pattern) => (await started.waitFor(pattern))[0], done: started.done };
}

/** What the person's browser does: open the sign-in URL, follow Google's redirect back to the loopback server. */
async function browse(signInUrl: string): Promise<{ status: number; page: string }> {
  const google = await fetch(signInUrl, { redirect: 'manual' });
  const back = google.headers.get('location') ?? '';
  const loopback = await fetch(back);
  return { status: loopback.status, page: await loopback.text() };
}

const SIGN_IN_URL = /http:\/\/127\.0\.0\.1:\d+\/o\/oauth2\/v2\/auth\?\S+/;

describe('iap-token login', () => {
  test('signs in with PKCE and a state, prints the refresh token once with how to use it; the action then works with it', async () => {
    const user = world.fake.addUser('someone@example.com');
    const login = cli([
      'login',
      '--client-id',
      user.clientId,
      '--client-secret',
      user.clientSecret,
      '--audience',
      world.audience,
      '--no-browser',
    ]);
    const url = new URL(await login.waitFor(SIGN_IN_URL));
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: user.clientId,
      response_type: 'code',
      scope: 'openid email',
      access_type: 'offline',
      prompt: 'consent',
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url.searchParams.get('state')?.length).toBeGreaterThanOrEqual(32);
    expect(await browse(url.toString())).toMatchObject({ status: 200, page: expect.stringContaining('Signed in') });
    const { code, stdout } = await login.done;
    expect(code).toBe(0);
    expect(stdout).toContain('Signed in as alice@example.com.');
    expect(stdout).toContain('gh secret set IAP_REFRESH_TOKEN');
    expect(stdout).toContain('refresh_token: ${{ secrets.IAP_REFRESH_TOKEN }}');
    const refreshToken = [...world.fake.refreshTokens.keys()].find((token) => stdout.includes(token));
    expect(refreshToken).toBeDefined();
    // The refresh token works in the action, end to end.
    const result = await run(world, {
      audience: world.audience,
      refresh_token: refreshToken ?? '',
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    });
    expectSuccess(result);
    expect(result.outputs['principal']).toBe('alice@example.com');
  });

  test('a refused consent and a timeout each end with a clear error; a wrong state is ignored and the login waits on', async () => {
    const user = world.fake.addUser('someone@example.com');
    const args = ['login', '--client-id', user.clientId, '--client-secret', user.clientSecret, '--no-browser'];

    world.fake.signIn.consent = false;
    const denied = cli(args);
    await browse(await denied.waitFor(SIGN_IN_URL));
    expect(await denied.done).toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringContaining('The sign-in was cancelled or consent was refused (access_denied).'),
    });

    world.fake.signIn.consent = true;
    const forged = cli(args);
    const signIn = await forged.waitFor(SIGN_IN_URL);
    const redirect = new URL(signIn).searchParams.get('redirect_uri') ?? '';
    expect((await fetch(`${redirect}/?code=4/stolen&state=not-this-one`)).status).toBe(400);
    // The user's own sign-in, after the forged answer, still completes the login.
    await browse(signIn);
    const after = await forged.done;
    expect(after).toMatchObject({ code: 0, stdout: expect.stringContaining('Signed in as alice@example.com.') });
    expect(after.stderr).toContain("A sign-in answer without this login's state was ignored");

    const slow = cli([...args, '--timeout', '1']);
    expect(await slow.done).toMatchObject({ code: 1, stderr: expect.stringContaining('No sign-in came back within 1 s') });
  });

  test('a wrong client secret: the exchange fails and says which options to check', async () => {
    const user = world.fake.addUser('someone@example.com');
    const login = cli(['login', '--client-id', user.clientId, '--client-secret', 'GOCSPX-wrong', '--no-browser']);
    await browse(await login.waitFor(SIGN_IN_URL));
    const { code, stderr } = await login.done;
    expect(code).toBe(1);
    expect(stderr).toContain('Code exchange (OAuth authorization_code grant) failed: HTTP 401 invalid_client');
    expect(stderr).toContain('check --client-id and --client-secret');
  });

  test('the client secret from IAP_TOKEN_CLIENT_SECRET; --cloud-platform asks for the scope impersonation needs', async () => {
    const user = world.fake.addUser('someone@example.com');
    const login = cli(['login', '--client-id', user.clientId, '--cloud-platform', '--no-browser'], {
      IAP_TOKEN_CLIENT_SECRET: user.clientSecret,
    });
    const url = new URL(await login.waitFor(SIGN_IN_URL));
    expect(url.searchParams.get('scope')).toBe('openid email https://www.googleapis.com/auth/cloud-platform');
    await browse(url.toString());
    expect((await login.done).code).toBe(0);
  });

  test('--version, and -h for the CLI and each command', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version']).done).toMatchObject({ code: 0, stdout: `iap-token ${version}\n` });
    for (const args of [['-h'], ['token', '-h'], ['proxy', '-h'], ['login', '-h']]) {
      expect(await cli(args).done).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: iap-token/) });
    }
  });

  test('usage errors exit 2 with the help', async () => {
    expect(await cli(['login', '--client-id', 'x']).done).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--client-id and the client secret (IAP_TOKEN_CLIENT_SECRET, or --client-secret) are required'),
    });
    expect(await cli(['login', '--bogus']).done).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown option --bogus') });
    expect(await cli(['login', '--help']).done).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: iap-token login') });
  });
});

describe('iap-token token', () => {
  async function callApp(token: string, path = '/x'): Promise<number> {
    return (await fetch(`${world.fake.appUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
  }

  test('prints only the token on standard output; IAP accepts it', async () => {
    const { code, stdout, stderr } = await cli(['token', '--audience', world.audience, '--credentials-file', workspace.keyPath]).done;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(claimsOf(stdout.trim())).toMatchObject({ email: DEPLOYER, aud: world.audience });
    expect(stderr).toContain(`Minted an ID token for ${DEPLOYER}`);
    expect(stderr).not.toContain('::add-mask::');
    expect(await callApp(stdout.trim())).toBe(200);
  });

  test('a signed JWT, from GOOGLE_APPLICATION_CREDENTIALS', async () => {
    const { code, stdout } = await cli(['token', '--audience', `${world.fake.appUrl}/*`, '--token-type', 'signed_jwt'], {
      GOOGLE_APPLICATION_CREDENTIALS: workspace.keyPath,
    }).done;
    expect(code).toBe(0);
    expect(claimsOf(stdout.trim())).toMatchObject({ iss: DEPLOYER, aud: `${world.fake.appUrl}/*` });
    expect(await callApp(stdout.trim())).toBe(200);
  });

  test('--token-type access_token: a refresh token from iap-token login (openid email) gives one IAP takes, no audience', async () => {
    const user = world.fake.addUser('alice@example.com');
    world.fake.allowRun('user:alice@example.com');
    const { code, stdout, stderr } = await cli(
      ['token', '--token-type', 'access_token', '--refresh-token', user.refreshToken, '--client-id', user.clientId],
      {
        IAP_TOKEN_CLIENT_SECRET: user.clientSecret,
      },
    ).done;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ya29\.\S+\n$/);
    expect(stderr).toContain('Minted an access token for alice@example.com, scopes openid and email (no audience)');
    // The app on Google's managed client, which no ID token of the user's reaches.
    expect((await fetch(world.fake.runUrl, { headers: { authorization: `Bearer ${stdout.trim()}` } })).status).toBe(200);
  });

  test("gcloud's application default credentials when nothing else is set, and a refresh token by options", async () => {
    const user = world.fake.addUser('alice@example.com');
    const gcloud = join(workspace.dir, 'gcloud');
    mkdirSync(gcloud, { recursive: true });
    writeFileSync(
      join(gcloud, 'application_default_credentials.json'),
      JSON.stringify({
        type: 'authorized_user',
        client_id: user.clientId,
        client_secret: user.clientSecret,
        refresh_token: user.refreshToken,
      }),
    );
    const fromGcloud = await cli(['token', '--audience', world.audience], { CLOUDSDK_CONFIG: gcloud }).done;
    expect(fromGcloud.code).toBe(0);
    expect(claimsOf(fromGcloud.stdout.trim())['email']).toBe('alice@example.com');
    const byOptions = await cli([
      'token',
      '--audience',
      world.audience,
      '--refresh-token',
      user.refreshToken,
      '--client-id',
      user.clientId,
      '--client-secret',
      user.clientSecret,
    ]).done;
    expect(byOptions.code).toBe(0);
    expect(await callApp(byOptions.stdout.trim())).toBe(200);
  });

  test('errors go to standard error, never a token to standard output', async () => {
    expect(await cli(['token']).done).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('--audience: is required') });
    const bad = await cli(['token', '--audience', world.audience, '--credentials-file', join(workspace.dir, 'missing.json')]).done;
    expect(bad).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('cannot be read (ENOENT)') });
    const refused = await cli([
      'token',
      '--audience',
      'https://app.example.com/',
      '--token-type',
      'id_token',
      '--credentials-file',
      workspace.keyPath,
    ]).done;
    expect(refused).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('use --token-type signed_jwt') });
  });
});

describe('option values', () => {
  test('an option followed by another option has no value: a usage error that echoes neither', async () => {
    const { code, stderr } = await cli(['login', '--client-id', '--client-secret', 'GOCSPX-shh', '--no-browser']).done;
    expect(code).toBe(2);
    expect(stderr).toContain('--client-id needs a value');
    expect(stderr).not.toContain('GOCSPX-shh');
  });
});
