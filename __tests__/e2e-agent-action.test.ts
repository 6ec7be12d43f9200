import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'node:http';
import { websocketRoundTrip } from '../test-bed/fake-google/streams.ts';
import { TestProxy } from '../test-bed/proxy.ts';
import { findLeaks, ROOT, runJob, type ActionRun } from '../test-bed/runner.ts';
import {
  callApp,
  DEPLOYER,
  expectFailure,
  expectSuccess,
  INVOKER,
  PROVIDER,
  REPO_MEMBER,
  useWorld,
  agentState,
  alive,
} from './e2e-helpers.ts';

/**
 * keep_fresh and proxy_to as a workflow runs them: the main step starts the agent and ends (its output closed), the
 * job's later steps use the token file and $IAP_PROXY_URL past the token's life, and the post step stops the agent,
 * removes the file and reports. Tokens from the fake live seconds, so that refreshes happen within the test.
 */

const world = useWorld();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = () => JSON.stringify(world.deployerKey);

/** Nothing secret where a person could read it, in either step. */
function expectNoLeaks(...runs: ActionRun[]): void {
  for (const run of runs) expect(findLeaks(run, world.fake.secrets)).toEqual([]);
}

describe('keep_fresh: a token file that is always valid', () => {
  test('the step ends while the agent runs; the file is replaced before expiry; the post step stops the agent and removes it', async () => {
    world.fake.idTokenLifetimeS = 8;
    let pid = 0;
    let tokenFile = '';
    const tokens: string[] = [];
    const { main, post } = await runJob(
      { audience: world.audience, credentials_json: key(), keep_fresh: 'true' },
      { timeoutMs: 20_000 },
      async (main) => {
        expectSuccess(main);
        ({ pid, tokenFile } = agentState(main));
        expect(alive(pid)).toBe(true);
        expect(main.outputs['token_file']).toBe(tokenFile);
        expect(main.exportedEnv['IAP_TOKEN_FILE']).toBe(tokenFile);
        expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
        // The file starts with the step's own token: the agent needed no request to start.
        expect(readFileSync(tokenFile, 'utf8')).toBe(main.outputs['token']);
        // Read as a later step (k6, a shell loop) would, until the file has held three tokens (two refreshes, 12 s in,
        // past the first token's life): always a token IAP accepts. Bounded: 30 s of reads at most.
        for (let i = 0; i < 120 && tokens.length < 3; i++) {
          const token = readFileSync(tokenFile, 'utf8');
          if (tokens.at(-1) !== token) tokens.push(token);
          expect((await callApp(world, token)).status).toBe(200);
          await sleep(250);
        }
        expect(Date.now()).toBeGreaterThan(Date.parse(main.outputs['expires_at'] ?? ''));
      },
    );
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    expect(post.exitCode).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(existsSync(tokenFile)).toBe(false);
    expect(post.summary).toContain('IAP token agent');
    expect(post.visibleLog.join('\n')).toMatch(/Token agent: [2-9]\d* refresh\(es\), 0 request\(s\) proxied, 0 failed mint\(s\)\./);
    expectNoLeaks(main, post);
    expect(main.state).not.toContain(main.outputs['token']);
  });

  test('with Workload Identity Federation, each refresh asks GitHub for a fresh OIDC token', async () => {
    world.fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
    world.fake.idTokenLifetimeS = 8;
    world.fake.accessTokenLifetimeS = 8;
    const inputs = { audience: world.audience, workload_identity_provider: PROVIDER, service_account: INVOKER, keep_fresh: 'true' };
    const { post } = await runJob(inputs, { env: world.fake.env(), timeoutMs: 20_000 }, async (main) => {
      expectSuccess(main);
      expect(world.fake.count('github')).toBe(1);
      // Until the agent has refreshed (6 s in) and the step's own token has expired (8 s): bounded at 30 s.
      const expired = Date.parse(main.outputs['expires_at'] ?? '');
      for (let i = 0; i < 120 && (world.fake.count('github') < 2 || Date.now() <= expired); i++) await sleep(250);
      expect(world.fake.count('github')).toBe(2);
      expect((await callApp(world, readFileSync(agentState(main).tokenFile, 'utf8'))).status).toBe(200);
    });
    expect(world.fake.count('github')).toBeGreaterThanOrEqual(2);
    expect(post.exitCode).toBe(0);
  });

  test('an agent that died is reported by the post step, which fails', async () => {
    const { post } = await runJob({ audience: world.audience, credentials_json: key(), keep_fresh: 'true' }, {}, async (main) => {
      expectSuccess(main);
      process.kill(agentState(main).pid, 'SIGKILL');
      await sleep(200);
    });
    expect(post.exitCode).toBe(1);
    expect(post.errors[0]).toContain('The token agent stopped before the end of the job');
  });
});

describe('proxy_to: $IAP_PROXY_URL for tools that cannot set a header', () => {
  test('a signed JWT for ORIGIN/* by default; requests, a WebSocket and redirects; the post step counts them', async () => {
    const { main, post } = await runJob(
      { credentials_json: key(), token_type: 'signed_jwt', proxy_to: world.fake.url, export_variable: 'APP_TOKEN' },
      {},
      async (main) => {
        expectSuccess(main);
        const url = main.outputs['proxy_url'] ?? '';
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(main.exportedEnv).toMatchObject({ IAP_PROXY_URL: url, APP_TOKEN_FILE: main.outputs['token_file'] });
        const answer = await fetch(`${url}/app/from-a-test-suite`);
        expect([answer.status, ((await answer.json()) as { email: string }).email]).toEqual([200, DEPLOYER]);
        const redirect = await fetch(`${url}/app/redirect`, { redirect: 'manual' });
        expect(redirect.status).toBe(302);
        expect(await websocketRoundTrip(`${url.replace('http', 'ws')}/app/ws`, 'hi')).toBe('echo: hi');
      },
    );
    expect(main.outputs['token']?.split('.')).toHaveLength(3);
    expect(post.exitCode).toBe(0);
    expect(post.visibleLog.join('\n')).toMatch(/Token agent: 0 refresh\(es\), 2 request\(s\) proxied/);
    expectNoLeaks(main, post);
  });

  test('a busy port: the step fails, publishes nothing and leaves no agent behind', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    const { port } = busy.address() as AddressInfo;
    const { main, post } = await runJob({
      audience: world.audience,
      credentials_json: key(),
      proxy_to: world.fake.url,
      proxy_listen: `127.0.0.1:${port}`,
    });
    busy.close();
    expect(expectFailure(main)).toContain(
      `The token agent could not start: The proxy cannot listen on 127.0.0.1:${port}: the port is in use.`,
    );
    expect(main.state).toBe('');
    expect(post.exitCode).toBe(0);
  });
});

describe('proxy_hosts: a forward proxy for browsers', () => {
  test('outputs the proxy, its CA and key hash; a request through it reaches IAP with a token; the post step stops it', async () => {
    // The app by name, reached through an egress proxy (https_proxy) as behind a corporate proxy.
    const egress = await new TestProxy(() => world.fake.httpsPort).start();
    try {
      const env = { https_proxy: egress.url, NODE_EXTRA_CA_CERTS: join(ROOT, 'test-bed', 'tls', 'ca.pem') };
      const { main, post } = await runJob(
        { credentials_json: key(), token_type: 'signed_jwt', proxy_hosts: 'app.fake-google.test' },
        { env },
        async (main) => {
          expectSuccess(main);
          expect(main.outputs['forward_proxy_url']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
          expect(main.exportedEnv).toMatchObject({
            IAP_FORWARD_PROXY: main.outputs['forward_proxy_url'],
            IAP_PROXY_CA_FILE: main.outputs['proxy_ca_file'],
            IAP_PROXY_SPKI: main.outputs['proxy_spki'],
          });
          const answer = await throughForwardProxy(
            main.outputs['forward_proxy_url'] ?? '',
            readFileSync(main.outputs['proxy_ca_file'] ?? '', 'utf8'),
          );
          expect(answer).toMatch(/^HTTP\/1\.1 200/);
          expect(answer).toContain(`"email":"${DEPLOYER}"`);
        },
      );
      // A signed JWT's audience defaults to the first host's origin.
      expect(main.visibleLog.join('\n')).toContain('audience https://app.fake-google.test/*');
      expect(post.exitCode).toBe(0);
      expectNoLeaks(main, post);
    } finally {
      await egress.stop();
    }
  });
});

/** GET /app/x on app.fake-google.test through the forward proxy (CONNECT, then TLS trusting `ca` alone). */
function throughForwardProxy(proxyUrl: string, ca: string): Promise<string> {
  const url = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const tunnel = request({ host: url.hostname, port: url.port, method: 'CONNECT', path: 'app.fake-google.test:443' });
    tunnel.on('connect', (_res, socket) => {
      const tls = tlsConnect({ socket, servername: 'app.fake-google.test', ca }, () =>
        tls.write('GET /app/x HTTP/1.1\r\nhost: app.fake-google.test\r\nconnection: close\r\n\r\n'),
      );
      let text = '';
      tls.on('data', (chunk: Buffer) => (text += chunk.toString()));
      tls.on('end', () => resolve(text));
      tls.on('error', reject);
    });
    tunnel.on('error', reject);
    tunnel.end();
  });
}
