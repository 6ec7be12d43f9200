import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { patternSha256, websocketRoundTrip } from '../test-bed/fake-google/streams.ts';
import { UNDER_TEST } from '../test-bed/runner.ts';
import { DEPLOYER, useWorld, useCliWorkspace, startCliProxy, type CliProxy } from './e2e-helpers.ts';

/**
 * `iap-token proxy`, run from the bundle as a person runs it, against the fake Google and its IAP app with tokens
 * that live seconds, so that every refresh path runs within the test.
 */

const world = useWorld();
const CLI = join(UNDER_TEST, 'dist', 'cli.cjs');
const workspace = useCliWorkspace(world, 'iap-token-proxy-');

/** Starts `iap-token proxy --to` the fake app, and resolves once it says where it listens. */
const startProxy = (args: string[], env: Record<string, string> = {}): Promise<CliProxy> =>
  startCliProxy(world, workspace, ['--to', world.fake.url, ...args], { env });

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, { headers, redirect: 'manual' });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

const idToken = () => ['--audience', world.audience, '--credentials-file', workspace.keyPath];

describe('iap-token proxy', () => {
  test('adds a token IAP accepts, keeps it fresh past its expiry, and stops cleanly on SIGTERM', async () => {
    world.fake.idTokenLifetimeS = 8;
    const proxy = await startProxy(idToken());
    const first = await get(`${proxy.url}/app/hello`);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ email: DEPLOYER, path: '/app/hello' });
    // Past the first token's whole life: a quarter before its end the agent minted again.
    await new Promise((resolve) => setTimeout(resolve, 9_000));
    expect((await get(`${proxy.url}/app/later`)).status).toBe(200);
    expect(world.fake.count('oauth2')).toBeGreaterThanOrEqual(2);
    expect(proxy.stderr()).toMatch(/Next refresh at .*\n[\s\S]*Minted an ID token[\s\S]*Minted an ID token/);
    proxy.child.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
    expect(proxy.stderr()).toMatch(/Stopped \(SIGTERM\): 2 request\(s\) proxied, [1-9]\d* refresh\(es\)\./);
    // Never the token itself, in any line.
    for (const secret of world.fake.secrets) expect(proxy.stderr()).not.toContain(secret);
  });

  test('a signed JWT for ORIGIN/* by default; the health check never touches the target', async () => {
    const proxy = await startProxy(['--token-type', 'signed_jwt', '--credentials-file', workspace.keyPath]);
    expect((await get(`${proxy.url}/app/a/b?c=d`)).status).toBe(200);
    const before = world.fake.count('iap');
    const health = await get(`${proxy.url}/.iap-token/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, target: world.fake.url });
    expect(world.fake.count('iap')).toBe(before);
  });

  test('redirects reach the client unfollowed; a Location on the target is rewritten to the proxy', async () => {
    const proxy = await startProxy(idToken());
    const away = await get(`${proxy.url}/app/redirect`);
    expect([away.status, away.headers.get('location')]).toEqual([302, 'https://login.example.com/start?next=/app']);
    expect(world.fake.appRequests.map((r) => r.path)).toEqual(['/app/redirect']);
  });

  test('never an open proxy: an absolute-form request for another host goes to the target; CONNECT is refused', async () => {
    const proxy = await startProxy(idToken());
    const { port } = new URL(proxy.url);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        // The request is written, and the connection left open until the proxy answers and closes it.
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
        let answer = '';
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
      });
    // Another host named in the request line goes to the target; another Host (DNS rebinding) is refused.
    const absolute = await raw(
      `GET http://elsewhere.example/app/absolute HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(absolute).toMatch(/^HTTP\/1\.1 200/);
    expect(absolute).toContain('"path":"/app/absolute"');
    const rebound = await raw('GET /app/x HTTP/1.1\r\nHost: rebind.attacker.example:80\r\nConnection: close\r\n\r\n');
    expect(rebound).toMatch(/^HTTP\/1\.1 421/);
    const crossSite = await raw(
      `POST /app/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(crossSite).toMatch(/^HTTP\/1\.1 403/);
    const trace = await raw(`TRACE /app/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    expect(trace).toMatch(/^HTTP\/1\.1 405/);
    expect(world.fake.appRequests.map((r) => r.path)).toEqual(['/app/absolute']);
    const tunnel = await raw('CONNECT elsewhere.example:443 HTTP/1.1\r\nHost: elsewhere.example:443\r\n\r\n');
    expect(tunnel).toMatch(/^HTTP\/1\.1 405/);
  });

  test("IAP's refusal reaches the client with its status and a diagnosis", async () => {
    const proxy = await startProxy(['--audience', '999-other.apps.googleusercontent.com', '--credentials-file', workspace.keyPath]);
    const refused = await get(`${proxy.url}/app/x`);
    expect(refused.status).toBe(401);
    expect(refused.body).toContain('Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.');
    expect(refused.body).toMatch(/iap-token: IAP refused the token's audience/);
    expect(refused.headers.get('x-iap-token-diagnosis')).toMatch(/audience/);
    expect(proxy.stderr()).toMatch(/IAP refused a request with 401 \(audience\)/);
  });

  test('an expired token refused by IAP: minted again at once and the GET retried once', async () => {
    const proxy = await startProxy(idToken());
    const mints = world.fake.count('oauth2');
    world.fake.inject('iap', {
      status: 401,
      headers: { 'x-goog-iap-generated-response': 'true' },
      body: 'OpenID Connect token expired: JWT has expired',
    });
    const answer = await get(`${proxy.url}/app/after-expiry`);
    expect(answer.status).toBe(200);
    expect(world.fake.count('oauth2')).toBe(mints + 1);
    expect(world.fake.count('iap')).toBe(2);
  });

  test('proxy-authorization: the client keeps its own Authorization for the app', async () => {
    const proxy = await startProxy([...idToken(), '--header', 'proxy-authorization']);
    const answer = await get(`${proxy.url}/app/own`, { authorization: 'Basic YXBwOnNlY3JldA==' });
    expect(JSON.parse(answer.body)).toMatchObject({ appAuthorization: 'Basic YXBwOnNlY3JldA==' });
  });

  test('a WebSocket passes through IAP with the token', async () => {
    const proxy = await startProxy(idToken());
    expect(await websocketRoundTrip(`${proxy.url.replace('http', 'ws')}/app/ws`, 'hello through IAP')).toBe('echo: hello through IAP');
    expect(world.fake.appRequests.map((r) => r.path)).toEqual(['/app/ws']);
  });

  test('50 MB up and 50 MB down, four times, are streamed: the proxy holds neither body, and its memory stays bounded', async () => {
    const proxy = await startProxy(idToken());
    const peakMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proxy.child.pid}/status`, 'utf8'))?.[1]) / 1024;
    expect((await get(`${proxy.url}/app/warm-up`)).status).toBe(200);
    const size = 50 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const expected = createHash('sha256');
    for (let i = 0; i < 50; i++) expected.update(chunk);
    const upload = () =>
      new Promise<string>((resolve, reject) => {
        const req = request(`${proxy.url}/app/stream/upload`, { method: 'POST', headers: { 'content-length': String(size) } }, (res) => {
          let body = '';
          res.on('data', (part: Buffer) => (body += part.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        let sent = 0;
        const pump = (): void => {
          while (sent < size) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
    const download = async () => {
      const response = await fetch(`${proxy.url}/app/stream/download?bytes=${size}`);
      const hash = createHash('sha256');
      let received = 0;
      for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(part);
        received += part.length;
      }
      return [received, hash.digest('hex')];
    };
    const before = peakMb();
    expect(JSON.parse(await upload())).toEqual({ bytes: size, sha256: expected.digest('hex') });
    expect(await download()).toEqual([size, patternSha256(size)]);
    const afterOne = peakMb();
    for (let round = 2; round <= 4; round++) {
      await upload();
      await download();
    }
    const afterFour = peakMb();
    // Peak resident memory, from the kernel. Buffers in flight are garbage until V8 collects them, and V8 grows its
    // young generation under load for a few rounds before it levels off: over 8 rounds (800 MB through the proxy) the
    // peak rose 40 to 55 MB past the first round's and then stayed, with undici's stream() and with its dispatch()
    // alike. So one round costs less than both its bodies (100 MB), and three more cost less than one round's bodies:
    // a proxy that held them would grow by 100 MB with each.
    expect(afterOne - before).toBeLessThan(90);
    expect(afterFour - afterOne).toBeLessThan(100);
  });

  test('a credential that can no longer mint: every request says why (503), and the agent recovers by itself', async () => {
    world.fake.idTokenLifetimeS = 6;
    const proxy = await startProxy(idToken());
    const account = world.fake.serviceAccounts.get(DEPLOYER);
    if (!account) throw new Error('test bug: no deployer');
    account.disabled = true;
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    const refused = await get(`${proxy.url}/app/x`);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/^iap-token proxy: no token to send: .*invalid_grant/);
    expect((await get(`${proxy.url}/.iap-token/healthz`)).status).toBe(503);
    expect(proxy.stderr()).toMatch(/Could not mint a token \(attempt \d+\); trying again in/);
    account.disabled = false;
    // The next attempt (backoff at most a few seconds at this point) succeeds.
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await get(`${proxy.url}/app/x`)).status;
    }
    expect(status).toBe(200);
  });

  test('upstream failures pass through as 502 with a one-line reason', async () => {
    const closed = await new Promise<number>((resolve) => {
      const server: Server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const child = spawn(process.execPath, [CLI, 'proxy', '--to', `http://127.0.0.1:${closed}`, ...idToken()], {
      env: { PATH: process.env['PATH'] ?? '', HOME: workspace.dir, ...world.fake.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workspace.running.push(child);
    const url = await new Promise<string>((resolve) => {
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const found = /^Proxying (\S+) /m.exec(stderr)?.[1];
        if (found) resolve(found);
      });
    });
    const answer = await get(`${url}/x`);
    expect(answer.status).toBe(502);
    expect(answer.body).toBe(`iap-token proxy: 127.0.0.1:${closed} refused the connection\n`);
  });
});

/** Runs the CLI to its end: its exit code and standard error. */
async function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: workspace.dir, ...world.fake.env() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workspace.running.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr };
}

describe('iap-token proxy: bad input fails before anything listens', () => {
  const fails = (args: string[]) => runCli(['proxy', ...args]);

  test('a path in --to, plain http to another host, a busy port, a name that does not resolve', async () => {
    expect(await fails(['--to', 'https://app.example.com/api', ...idToken()])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--to: must be an origin such as https://app.example.com'),
    });
    expect(await fails(['--to', 'http://app.example.com', ...idToken()])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--to: must be https'),
    });
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    const { port } = busy.address() as AddressInfo;
    expect(await fails(['--to', world.fake.url, '--listen', `127.0.0.1:${port}`, ...idToken()])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`cannot listen on 127.0.0.1:${port}: the port is in use`),
    });
    busy.close();
    expect(
      await fails(['--to', 'https://no-such-host.invalid', '--token-type', 'signed_jwt', '--credentials-file', workspace.keyPath]),
    ).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no-such-host.invalid does not resolve'),
    });
  });
});

describe('iap-token token --exec', () => {
  test('runs the command once with IAP_TOKEN set, passes its exit code on, and prints no token itself', async () => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'token',
        ...idToken(),
        '--exec',
        '--',
        process.execPath,
        '-e',
        'console.log(process.env.IAP_TOKEN.split(".").length); process.exit(3)',
      ],
      { env: { PATH: process.env['PATH'] ?? '', HOME: workspace.dir, ...world.fake.env() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    workspace.running.push(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect([code, stdout]).toEqual([3, '3\n']);
  });

  test('--exec without -- and a command is a usage error', async () => {
    const { code, stderr } = await runCli(['token', ...idToken(), '--exec', 'ls']);
    expect(code).toBe(2);
    expect(stderr).toContain('--exec is followed by -- and the command to run');
  });
});
