import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { expectFailure, run, useWorld } from './e2e-helpers.ts';

/**
 * Servers that answer, but not as Google does: a page of text where a token should be, something else listening at
 * the metadata server's address. Nothing they send is masked by the thousand (masks blank ordinary words in the job's
 * log), quoted, or believed.
 */

const world = useWorld();
let server: Server | undefined;
afterEach(() => {
  server?.close();
});

/** A server on 127.0.0.1 that answers every request with `reply`. */
async function serve(reply: { status: number; headers: Record<string, string>; body: string }): Promise<string> {
  server = createServer((_req, res) => res.writeHead(reply.status, reply.headers).end(reply.body));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const LINES = Array.from({ length: 5_000 }, (_, i) => `line ${i} of an answer that is not a token: failed, error, deploy`).join('\n');

describe('answers that are not tokens', () => {
  test('a "metadata server" without Metadata-Flavor: Google is not believed, and its body neither masked nor quoted', async () => {
    const host = await serve({ status: 200, headers: { 'content-type': 'text/plain' }, body: LINES });
    const result = await run(world, { audience: world.audience }, { env: { GCE_METADATA_HOST: host } });
    const error = expectFailure(result);
    expect(error).toContain('the answer did not come from a metadata server (no Metadata-Flavor: Google header)');
    expect(result.masks.size).toBeLessThan(5);
    expect(error).not.toContain('line 1 of an answer');
  });

  test('a metadata server whose ID token is a page of lines: an error, two masks at most', async () => {
    const host = await serve({ status: 200, headers: { 'metadata-flavor': 'Google' }, body: LINES });
    const result = await run(world, { audience: world.audience }, { env: { GCE_METADATA_HOST: host } });
    expect(expectFailure(result)).toContain("The metadata server's ID token is not a JWT");
    expect(result.masks.size).toBeLessThan(5);
    expect(result.visibleLog.join('\n')).not.toContain('***');
  });

  test('a token endpoint answering 200 with lines in id_token: an error that describes, masks nothing of it', async () => {
    world.fake.inject('oauth2', {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id_token: LINES }),
    });
    const result = await run(world, { audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) });
    const error = expectFailure(result);
    expect(error).toMatch(/The OAuth token endpoint's id_token is not a JWT: \d+ characters that are not one \(not shown\)/);
    expect([...result.masks].some((mask) => mask.startsWith('line '))).toBe(false);
  });
});

describe('runner commands hidden in logged values', () => {
  test('a GOOGLE_APPLICATION_CREDENTIALS path with ##[stop-commands] cannot switch masking off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iap-token-hostile-'));
    const folder = join(dir, 'ci', 'creds##[stop-commands]x');
    mkdirSync(folder, { recursive: true });
    const path = join(folder, 'key.json');
    writeFileSync(path, JSON.stringify(world.deployerKey));
    const result = await run(world, { audience: world.audience }, { env: { GOOGLE_APPLICATION_CREDENTIALS: path } });
    rmSync(dir, { recursive: true, force: true });
    // run() has checked that no secret is visible in what the runner (which honours ##[ anywhere) shows.
    expect(result.exitCode).toBe(0);
    expect(result.visibleLog.some((line) => line.includes('creds#\u200b#[stop-commands]x'))).toBe(true);
  });

  test("a credentials file's field with a newline and a command is refused before anything is logged", async () => {
    const file = {
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x\n::set-output name=token::forged',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${world.fake.url}/sts/v1/token`,
      credential_source: { file: '/nonexistent' },
      service_account_impersonation_url: `${world.fake.url}/iamcredentials/v1/projects/-/serviceAccounts/x@p.iam.gserviceaccount.com:generateAccessToken`,
    };
    const result = await run(world, { audience: world.audience, credentials_json: JSON.stringify(file) });
    expect(expectFailure(result)).toContain('audience must be a Workload (or Workforce) Identity provider');
    expect(result.stdout).not.toMatch(/^::set-output/m);
  });
});

describe('runner files', () => {
  test('a GITHUB_ENV that cannot be written: the step fails with the reason, and no output is written first', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'iap-token-env-'));
    const result = await run(
      world,
      { audience: world.audience, credentials_json: JSON.stringify(world.deployerKey) },
      { env: { GITHUB_ENV: folder } },
    );
    rmSync(folder, { recursive: true, force: true });
    expect(result.exitCode).toBe(1);
    expect(result.errors[0]).toContain("The runner's GITHUB_ENV file cannot be written (EISDIR); nothing was published.");
    expect(result.outputs).toEqual({});
  });
});

describe('what a person reads', () => {
  test('an input error about a smoke URL never shows its password or its query', async () => {
    for (const urls of ['ftp://deploy:hunter2-password@app.example.com/?key=AIzaSecretKey', 'http://app.example.com/?key=AIzaSecretKey']) {
      const result = await run(world, {
        audience: world.audience,
        credentials_json: JSON.stringify(world.deployerKey),
        smoke_test_urls: urls,
      });
      const error = expectFailure(result);
      expect(error).toMatch(/^Input smoke_test_urls: line 1/);
      expect(error).not.toMatch(/hunter2|AIzaSecretKey/);
    }
  });

  test('server text in the step summary is escaped: a page claiming to be IAP cannot add markup', async () => {
    world.fake.inject(
      'iap',
      {},
      {
        status: 401,
        headers: { 'x-goog-iap-generated-response': 'true' },
        body: 'Invalid IAP credentials: <img src=x onerror=alert(1)><a href="https://evil.example">fix</a>',
      },
    );
    const result = await run(world, {
      audience: world.audience,
      credentials_json: JSON.stringify(world.deployerKey),
      smoke_test_urls: `${world.fake.appUrl}/x`,
    });
    expectFailure(result);
    expect(result.summary).toContain('&#60;img src=x onerror=alert&#40;1&#41;&#62;');
    expect(result.summary).not.toMatch(/<img|<a href/);
  });
});
