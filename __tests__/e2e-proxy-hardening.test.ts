import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { websocketRoundTrip } from '../test-bed/fake-google/streams.ts';
import { HostileUpstream, OK_BODY, hostileExchange, type Plan } from '../test-bed/hostile-upstream.ts';
import { TestProxy } from '../test-bed/proxy.ts';
import { ROOT } from '../test-bed/runner.ts';
import { CLI, DEPLOYER, useWorld, useCliWorkspace, startCliProxy, type CliProxy } from './e2e-helpers.ts';

/**
 * `iap-token proxy` from the bundle, as people run it, against what issue 21 found: upstreams that break exchanges
 * (the process must live on), a second local user (another uid, spawned as such: these tests run as root), real
 * clients that offer h2c (curl --http2, Java's HttpClient), quiet streams, WebSockets behind an egress proxy, SIGHUP.
 */

const world = useWorld();
const TEST_CA = join(ROOT, 'test-bed', 'tls', 'ca.pem');
/** Users that exist on no machine's passwd, and need not: the kernel takes any uid. */
const STRANGER = 65534;
const OTHER = 65533;
const workspace = useCliWorkspace(world, 'iap-token-hardening-');

/** Starts `iap-token proxy ARGS` and resolves once it says where it listens. */
const startProxy = (args: string[], options: Parameters<typeof startCliProxy>[3] = {}): Promise<CliProxy> =>
  startCliProxy(world, workspace, args, options);

const idToken = () => ['--audience', world.audience, '--credentials-file', workspace.keyPath];

/** Runs a command to its end (never spawnSync: the fake Google answers from this very process). */
function run(
  file: string,
  args: string[],
  options: { uid?: number; timeout?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: options.timeout ?? 30_000, ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }) },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * What a client of uid `uid` gets from the proxy at `port`: for each of a health check, a GET and a CONNECT, the bytes
 * that came back before the connection ended. Node as the client, so that the same program runs as any user.
 */
async function probeAs(uid: number | undefined, port: number): Promise<Record<string, string>> {
  const script = `
    const net = require('node:net');
    const ask = (text) => new Promise((resolve) => {
      const socket = net.connect(${port}, '127.0.0.1', () => socket.write(text));
      let got = '';
      socket.on('data', (chunk) => { got += chunk.toString('latin1'); if (got.includes('\\r\\n\\r\\n')) socket.destroy(); });
      socket.on('close', () => resolve(got.split('\\r\\n')[0]));
      socket.on('error', () => resolve(got.split('\\r\\n')[0]));
    });
    (async () => {
      const host = 'host: 127.0.0.1:${port}\\r\\n';
      const health = await ask('GET /.iap-token/healthz HTTP/1.1\\r\\n' + host + 'connection: close\\r\\n\\r\\n');
      const get = await ask('GET /app/hello HTTP/1.1\\r\\n' + host + 'connection: close\\r\\n\\r\\n');
      const tunnel = await ask('CONNECT app.fake-google.test:443 HTTP/1.1\\r\\nhost: app.fake-google.test:443\\r\\n\\r\\n');
      process.stdout.write(JSON.stringify({ health, get, tunnel }));
    })();`;
  const { stdout, stderr } = await run(process.execPath, ['-e', script], uid === undefined ? {} : { uid });
  expect(stderr).toBe('');
  return JSON.parse(stdout) as Record<string, string>;
}

describe('1. a truncated answer ends that exchange only', () => {
  let upstream: HostileUpstream;
  beforeAll(async () => {
    upstream = await new HostileUpstream().start();
  });
  afterAll(async () => upstream.stop());

  test('every stage of a broken upstream, then the proxy process still serves, and stops cleanly', async () => {
    const proxy = await startProxy(['--to', `http://127.0.0.1:${upstream.port}`, ...idToken()]);
    const port = Number(new URL(proxy.url).port);
    const head = 'HTTP/1.1 200 OK\r\ncontent-length: 4000\r\ncontent-type: text/plain\r\n\r\n'.length;
    const stages: Array<Partial<Plan>> = [
      { cut: 0 },
      { cut: head - 2 },
      { cut: head },
      { cut: head + 100 },
      { cut: head, afterUpload: 1 }, // the head, then gone while the client is still uploading
      { cut: head + 10, afterUpload: 1, close: 'reset' },
      { cut: 0, afterUpload: 1, close: 'reset' },
    ];
    for (const stage of stages) {
      for (const waitForContinue of [false, true]) {
        upstream.plan = { afterUpload: 0, cut: 'all', close: 'end', bodyBytes: 4000, ...stage };
        await hostileExchange(port, { uploadBytes: 300_000, chunk: 2000, waitForContinue, host: `127.0.0.1:${port}` });
      }
    }
    upstream.ok();
    const after = await fetch(`${proxy.url}/after`);
    expect([after.status, await after.text()]).toEqual([200, OK_BODY]);
    proxy.child.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
  });
});

describe('2. another local user is not the job', () => {
  test('a stranger’s connections to both proxies are closed unanswered; the user that started them is served', async () => {
    const egress = await new TestProxy(() => world.fake.httpsPort).start();
    try {
      const env = { https_proxy: egress.url, NODE_EXTRA_CA_CERTS: TEST_CA };
      const reverse = await startProxy(['--to', world.fake.url, ...idToken()]);
      const forward = await startProxy(['--forward', '--host', 'app.fake-google.test', ...idToken()], { env });
      for (const proxy of [reverse, forward]) {
        const port = Number(new URL(proxy.url).port);
        // Not a byte: not IAP's answer, not the health check's, not even that something of ours listens.
        expect(await probeAs(STRANGER, port)).toEqual({ health: '', get: '', tunnel: '' });
        expect(proxy.stderr()).toContain(`Refused a connection from uid ${STRANGER}: the proxy serves only uid 0`);
      }
      expect(world.fake.appRequests).toEqual([]);
      expect(egress.connects).toEqual([]);
      // The same program as the user that started the proxies.
      expect(await probeAs(undefined, Number(new URL(reverse.url).port))).toEqual({
        health: 'HTTP/1.1 200 OK',
        get: 'HTTP/1.1 200 OK',
        tunnel: 'HTTP/1.1 405 Method Not Allowed',
      });
      expect((await probeAs(undefined, Number(new URL(forward.url).port))).tunnel).toBe('HTTP/1.1 200 Connection Established');
      expect(reverse.stderr()).toContain('The proxy serves only uid 0 (the user that started it) and root');
    } finally {
      await egress.stop();
    }
  });

  test('a stranger who sends a whole request and hangs up at once gets nothing through; one who holds connections does not fill the proxy', async () => {
    const proxy = await startProxy(['--to', world.fake.url, '--max-connections', '5', ...idToken()]);
    const port = Number(new URL(proxy.url).port);
    // 200 requests that act, each closed the moment it is written (its socket then sits in TIME_WAIT, owned by no one),
    // then 20 connections held open while the user that started the proxy calls it.
    const script = `
      const net = require('node:net');
      const request = 'POST /app/hello HTTP/1.1\\r\\nhost: 127.0.0.1:${port}\\r\\ncontent-length: 2\\r\\n\\r\\nhi';
      const once = () => new Promise((resolve) => {
        const socket = net.connect(${port}, '127.0.0.1', () => socket.end(request, resolve));
        socket.on('error', resolve);
      });
      (async () => {
        for (let i = 0; i < 200; i++) await once();
        const held = [];
        for (let i = 0; i < 20; i++) held.push(net.connect(${port}, '127.0.0.1').on('error', () => undefined));
        process.stdout.write('holding\\n');
        setTimeout(() => process.exit(0), 30000);
      })();`;
    const stranger = spawn(process.execPath, ['-e', script], { uid: STRANGER, gid: STRANGER, stdio: ['ignore', 'pipe', 'inherit'] });
    workspace.running.push(stranger);
    await new Promise<void>((resolve) => stranger.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('holding') && resolve()));
    const answer = await fetch(`${proxy.url}/app/hello`);
    expect(answer.status).toBe(200);
    // Only that one request of ours reached the app.
    expect(world.fake.appRequests.map((r) => r.method)).toEqual(['GET']);
  });

  test('a proxy started by a user of its own serves that user, and not another (no root in the picture)', async () => {
    // The bundle and the key where that user can read them.
    const own = join(workspace.dir, 'other-user');
    mkdirSync(own, { recursive: true });
    copyFileSync(CLI, join(own, 'cli.cjs'));
    copyFileSync(workspace.keyPath, join(own, 'key.json'));
    for (const path of [workspace.dir, own]) chmodSync(path, 0o755);
    chmodSync(join(own, 'key.json'), 0o644);
    chownSync(own, STRANGER, STRANGER);
    const proxy = await startProxy(['--to', world.fake.url, '--audience', world.audience, '--credentials-file', join(own, 'key.json')], {
      uid: STRANGER,
      cli: join(own, 'cli.cjs'),
      home: own,
    });
    const port = Number(new URL(proxy.url).port);
    expect(await probeAs(OTHER, port)).toEqual({ health: '', get: '', tunnel: '' });
    expect(proxy.stderr()).toContain(`Refused a connection from uid ${OTHER}: the proxy serves only uid ${STRANGER}`);
    expect((await probeAs(STRANGER, port)).get).toBe('HTTP/1.1 200 OK');
  });
});

describe('4. clients that offer h2c on http:// URLs', () => {
  test('curl --http2: a GET and a POST with its body get HTTP/1.1 answers, framed once', async () => {
    const proxy = await startProxy(idTokenTo(world.fake.url));
    const get = await run('curl', ['-sS', '--http2', '-D', '-', `${proxy.url}/app/hello`]);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(get.stdout).toContain(`"email":"${DEPLOYER}"`);
    const body = 'x'.repeat(100_000);
    writeFileSync(join(workspace.dir, 'body.txt'), body);
    const post = await run('curl', [
      '-sS',
      '--http2',
      '--data-binary',
      `@${join(workspace.dir, 'body.txt')}`,
      `${proxy.url}/app/stream/upload`,
    ]);
    expect(post.code).toBe(0);
    expect(JSON.parse(post.stdout)).toMatchObject({ bytes: 100_000 });
  });

  test('Java’s HttpClient (HTTP/2 by default): GET and POST through the proxy', async () => {
    const source = join(workspace.dir, 'Client.java');
    writeFileSync(
      source,
      `import java.net.URI; import java.net.http.*;
public class Client { public static void main(String[] a) throws Exception {
  HttpClient c = HttpClient.newHttpClient();
  HttpResponse<String> g = c.send(HttpRequest.newBuilder(URI.create(a[0] + "/app/hello")).build(), HttpResponse.BodyHandlers.ofString());
  HttpResponse<String> p = c.send(HttpRequest.newBuilder(URI.create(a[0] + "/app/stream/upload")).POST(HttpRequest.BodyPublishers.ofString("y".repeat(50000))).build(), HttpResponse.BodyHandlers.ofString());
  System.out.println(g.version() + " " + g.statusCode() + " " + g.body());
  System.out.println(p.version() + " " + p.statusCode() + " " + p.body());
} }`,
    );
    const proxy = await startProxy(idTokenTo(world.fake.url));
    const java = await run('java', [source, proxy.url], { timeout: 50_000 });
    expect(java.stderr).toBe('');
    const [get = '', post = ''] = java.stdout.trim().split('\n');
    expect(get).toMatch(/^HTTP_1_1 200 /);
    expect(get).toContain(`"email":"${DEPLOYER}"`);
    expect(post).toMatch(/^HTTP_1_1 200 \{"bytes":50000,/);
  }, 60_000);
});

describe('5. quiet streams and the response timeout', () => {
  let quiet: Server;
  beforeAll(async () => {
    quiet = createServer((req, res) => {
      if (req.url === '/never') return;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first\n');
      setTimeout(() => res.end('last\n'), 2_500);
    });
    await new Promise<void>((resolve) => quiet.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    quiet.closeAllConnections();
    quiet.close();
  });

  test('--response-timeout 1: a stream quiet for 2.5 s after its head arrives whole; an app that never answers is 504 and logged', async () => {
    const target = `http://127.0.0.1:${(quiet.address() as AddressInfo).port}`;
    const proxy = await startProxy(['--to', target, '--response-timeout', '1', ...idToken()]);
    const stream = await fetch(`${proxy.url}/follow`);
    expect([stream.status, await stream.text()]).toEqual([200, 'first\nlast\n']);
    const never = await fetch(`${proxy.url}/never`);
    expect(never.status).toBe(504);
    expect(await never.text()).toContain("sent no answer within 1 s (the proxy's response timeout)");
    expect(proxy.stderr()).toContain('GET /never: 127.0.0.1:');
  });

  test('a bad value is refused before anything is minted, naming the flag', async () => {
    const { code, stderr } = await run(process.execPath, [CLI, 'proxy', '--to', world.fake.url, '--max-connections', 'lots', ...idToken()]);
    expect(code).toBe(2);
    expect(stderr).toContain('--max-connections: must be whole connections from 1 to 100000, got "lots"');
    expect(world.fake.count()).toBe(0);
  });
});

describe('6. a WebSocket behind an egress proxy', () => {
  test('https_proxy carries the WebSocket to the app (TLS inside the tunnel), as it carries every request', async () => {
    const egress = await new TestProxy(() => world.fake.httpsPort).start();
    try {
      const proxy = await startProxy(['--to', 'https://app.fake-google.test', ...idToken()], {
        env: { https_proxy: egress.url, NODE_EXTRA_CA_CERTS: TEST_CA },
      });
      expect(await websocketRoundTrip(`${proxy.url.replace('http', 'ws')}/app/ws`, 'hello through the egress proxy')).toBe(
        'echo: hello through the egress proxy',
      );
      expect(egress.connects).toContain('app.fake-google.test:443');
    } finally {
      await egress.stop();
    }
  });
});

describe('10. SIGHUP', () => {
  test('the forward proxy stops on SIGHUP as on SIGTERM: its summary printed, its folder (the CA) removed', async () => {
    const proxy = await startProxy(['--forward', '--host', 'app.fake-google.test', ...idToken()]);
    const ca = /\(CA: (\S+)\)/.exec(proxy.stderr())?.[1] ?? '';
    expect(existsSync(ca)).toBe(true);
    proxy.child.kill('SIGHUP');
    expect(await proxy.exited).toBe(0);
    expect(proxy.stderr()).toMatch(/Stopped \(SIGHUP\): 0 request\(s\) proxied/);
    expect(existsSync(ca)).toBe(false);
  });
});

function idTokenTo(target: string): string[] {
  return ['--to', target, ...idToken()];
}
