import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { patternSha256, websocketRoundTrip } from '../test-bed/fake-google/streams.ts';
import { ROOT } from '../test-bed/runner.ts';
import { closedPort, DEPLOYER, startCli, startCliProxy, useCliWorkspace, useWorld, type CliEnd, type CliProxy } from './e2e-helpers.ts';

/**
 * `iap-token proxy`, run from the bundle as a person runs it, against the fake Google and its IAP app with tokens
 * that live seconds, so that every refresh path runs within the test.
 */

const world = useWorld();
const workspace = useCliWorkspace(world, 'iap-token-proxy-');

/** Starts `iap-token proxy --to` the fake app, and resolves once it says where it listens. */
const startProxy = (args: string[], nodeArgs: string[] = []): Promise<CliProxy> =>
  startCliProxy(world, workspace, ['--to', world.fake.url, ...args], { nodeArgs });

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
    // A quarter before the first token's end (6 s in), the agent mints again by itself: the second token in hand, its
    // own refresh scheduled.
    await proxy.waitFor(/Next refresh at .*\n[\s\S]*Minted an ID token[\s\S]*Next refresh at /, { withinMs: 15_000 });
    expect(world.fake.count('oauth2')).toBe(2);
    // Past the first token's whole life, by IAP's clock (the second still has 5 s): IAP accepts the request at the first
    // try, so the proxy sent the new token; had it sent the old one, IAP's 401 would have cost a mint and a retry.
    world.fake.now = () => Date.now() + 3_000;
    const iapBefore = world.fake.count('iap');
    expect((await get(`${proxy.url}/app/later`)).status).toBe(200);
    expect([world.fake.count('iap') - iapBefore, world.fake.count('oauth2')]).toEqual([1, 2]);
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
    // A heap far smaller than what passes through (400 MB), so that a proxy that kept what passed would run out and
    // die; and the probe that says what the proxy holds after a full collection, Buffers included (they live outside
    // the heap, where the cap does not reach).
    const proxy = await startProxy(idToken(), ['--max-old-space-size=64', '--expose-gc', '--require', PROBE]);
    const heldMb = memoryProbe(proxy);
    expect((await get(`${proxy.url}/app/warm-up`)).status).toBe(200);
    const idle = await heldMb();
    const size = 50 * 1024 * 1024;

    // Round 1, down: the client stops reading after the first bytes. The app writes on until every buffer between is
    // full, then waits: what is in flight sits in the sockets' buffers, not in the proxy. One that read the body
    // whatever the client took would hold what the client's socket cannot (tens of MB).
    const paused = await pausedDownload(`${proxy.url}/app/stream/download?bytes=${size}`);
    await settled(() => world.fake.streamed.downloaded, 'the app writing a download the client does not read');
    expect((await heldMb()) - idle).toBeLessThan(8);
    expect(await paused.resume()).toEqual([size, patternSha256(size)]);

    // Round 1, up: the app reads nothing of the upload yet. The client writes until every buffer between is full, and
    // again the proxy holds next to nothing: one that read the body whatever the app took would hold all of it.
    const held = upload(`${proxy.url}/app/stream/upload?hold`, size);
    await settled(() => held.sent(), 'the client writing an upload the app does not read');
    expect((await heldMb()) - idle).toBeLessThan(8);
    world.fake.releaseUploads();
    expect(JSON.parse(await held.answer)).toEqual({ bytes: size, sha256: uploadSha256(size) });

    // Rounds 2 to 4, at full speed; then the proxy holds what it held idle, give or take what a connection keeps (a
    // proxy that kept one body would hold 50 MB more), and it still serves.
    for (let round = 2; round <= 4; round++) {
      expect(JSON.parse(await upload(`${proxy.url}/app/stream/upload`, size).answer)).toMatchObject({ bytes: size });
      expect(await download(`${proxy.url}/app/stream/download?bytes=${size}`)).toEqual([size, patternSha256(size)]);
    }
    expect((await heldMb()) - idle).toBeLessThan(8);
    expect(proxy.child.exitCode).toBeNull();
    expect((await get(`${proxy.url}/app/after`)).status).toBe(200);
    expect((await get(`${proxy.url}/.iap-token/healthz`)).status).toBe(200);
  });

  test('a credential that can no longer mint: every request says why (503), and the agent recovers by itself', async () => {
    world.fake.idTokenLifetimeS = 6;
    const proxy = await startProxy(idToken());
    const account = world.fake.serviceAccounts.get(DEPLOYER);
    if (!account) throw new Error('test bug: no deployer');
    account.disabled = true;
    // The agent's refresh, a quarter before the token's end (4.5 s in), is refused. The token it has is then too close
    // to its end (under 5 s) to be sent: no request gets it.
    await proxy.waitFor(/Could not mint a token \(attempt 1\); trying again in/, { withinMs: 15_000 });
    const refused = await get(`${proxy.url}/app/x`);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/^iap-token proxy: no token to send: .*invalid_grant/);
    // Once the token has expired (the health check says when), the health check fails too.
    const { expiresAt } = JSON.parse((await get(`${proxy.url}/.iap-token/healthz`)).body) as { expiresAt: string };
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(expiresAt) - Date.now() + 20)));
    expect((await get(`${proxy.url}/.iap-token/healthz`)).status).toBe(503);
    account.disabled = false;
    // The next attempt (backoff at most a few seconds at this point) succeeds, and the token is sent again.
    await proxy.waitFor(/Could not mint a token[\s\S]*Next refresh at /, { withinMs: 15_000 });
    expect((await get(`${proxy.url}/app/x`)).status).toBe(200);
  });

  test('upstream failures pass through as 502 with a one-line reason', async () => {
    const closed = await closedPort();
    const { url } = await startCliProxy(world, workspace, ['--to', `http://127.0.0.1:${closed}`, ...idToken()]);
    const answer = await get(`${url}/x`);
    expect(answer.status).toBe(502);
    expect(answer.body).toBe(`iap-token proxy: 127.0.0.1:${closed} refused the connection\n`);
  });
});

/** Runs the CLI to its end. */
const runCli = (args: string[]): Promise<CliEnd> => startCli(world, args, { home: workspace.dir, running: workspace.running }).done;

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
    const { code, stdout } = await runCli([
      'token',
      ...idToken(),
      '--exec',
      '--',
      process.execPath,
      '-e',
      'console.log(process.env.IAP_TOKEN.split(".").length); process.exit(3)',
    ]);
    expect([code, stdout]).toEqual([3, '3\n']);
  });

  test('--exec without -- and a command is a usage error', async () => {
    const { code, stderr } = await runCli(['token', ...idToken(), '--exec', 'ls']);
    expect(code).toBe(2);
    expect(stderr).toContain('--exec is followed by -- and the command to run');
  });
});

/** test-bed/memory-probe.cjs: what a process holds, on demand, after a full garbage collection. */
const PROBE = join(ROOT, 'test-bed', 'memory-probe.cjs');

/** What the proxy (started with PROBE) holds after a full collection, heap and Buffers, in MB, each time it is called. */
function memoryProbe(proxy: CliProxy): () => Promise<number> {
  let asked = 0;
  return async () => {
    proxy.child.kill('SIGUSR2');
    const [, usage = '{}'] = await proxy.waitFor(new RegExp(`^memory-probe ${++asked} (\\{.*\\})$`, 'm'), { withinMs: 10_000 });
    const { heapUsed, external } = JSON.parse(usage) as NodeJS.MemoryUsage;
    return (heapUsed + external) / 2 ** 20;
  };
}

/**
 * Resolves once `read()` has stayed the same for 300 ms: bytes that stopped moving because every buffer on their way
 * is full. Fails, saying what did not settle, if it still moves after 15 s.
 */
async function settled(read: () => number, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = read();
  let since = Date.now();
  while (Date.now() - since < 300) {
    if (Date.now() > deadline) throw new Error(`${what} did not stop within 15 s (at ${last} bytes)`);
    await new Promise((resolve) => setTimeout(resolve, 25));
    if (read() !== last) [last, since] = [read(), Date.now()];
  }
}

const UPLOAD_CHUNK = Buffer.alloc(1024 * 1024, 7);

function uploadSha256(size: number): string {
  const hash = createHash('sha256');
  for (let sent = 0; sent < size; sent += UPLOAD_CHUNK.length) hash.update(UPLOAD_CHUNK);
  return hash.digest('hex');
}

/** POSTs `size` bytes (1 MB chunks, as fast as the connection takes them); `sent()` counts what it took so far. */
function upload(url: string, size: number): { answer: Promise<string>; sent: () => number } {
  let sent = 0;
  const answer = new Promise<string>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-length': String(size) } }, (res) => {
      let body = '';
      res.on('data', (part: Buffer) => (body += part.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    const pump = (): void => {
      while (sent < size) {
        sent += UPLOAD_CHUNK.length;
        if (!req.write(UPLOAD_CHUNK)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  return { answer, sent: () => sent };
}

/** GETs a download whole: the bytes received and their SHA-256. */
async function download(url: string): Promise<[number, string]> {
  return (await pausedDownload(url)).resume();
}

/**
 * GETs a download and stops reading it after the first chunk; `resume()` reads the rest, and resolves with the bytes
 * received and their SHA-256.
 */
async function pausedDownload(url: string): Promise<{ resume: () => Promise<[number, string]> }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => request(url, resolve).on('error', reject).end());
  const hash = createHash('sha256');
  let received = 0;
  // Paused at once, in the same turn: a flowing stream would go on emitting what nobody listens to any more.
  const first = await new Promise<Buffer>((resolve) =>
    res.once('data', (chunk: Buffer) => {
      res.pause();
      resolve(chunk);
    }),
  );
  hash.update(first);
  received += first.length;
  return {
    resume: () =>
      new Promise((resolve, reject) => {
        res.on('data', (part: Buffer) => {
          hash.update(part);
          received += part.length;
        });
        res.on('end', () => resolve([received, hash.digest('hex')]));
        res.on('error', reject);
        res.resume();
      }),
  };
}
