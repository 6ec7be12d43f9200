import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { startReverseProxy, type ReverseProxyOptions, type RunningProxy } from '../src/http/reverse-proxy.ts';
import { isIapRefusal } from '../src/iap/answers.ts';

/**
 * The reverse proxy in process, in front of a small upstream on 127.0.0.1 that records what reaches it and answers
 * as each test says: which headers go up and come down, how failures and IAP's refusals are told, and that bodies
 * stream intact over kept-alive connections.
 */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}
type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer, n: number) => void;

let upstream: Server;
let upPort = 0;
let upHost = '';
const seen: Seen[] = [];
let connections = 0;
let handler: Handler = (_req, res) => res.end('ok');
let proxy: RunningProxy | undefined;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body, seen.length);
    });
  });
  upstream.on('connection', () => connections++);
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upPort = (upstream.address() as AddressInfo).port;
  upHost = `127.0.0.1:${upPort}`;
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  seen.length = 0;
  handler = (_req, res) => res.end('ok');
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

/** A proxy to the upstream; `token()` hands out tok-1, tok-2, … unless the test overrides it. */
async function start(overrides: Partial<ReverseProxyOptions> = {}): Promise<RunningProxy> {
  let n = 0;
  proxy = await startReverseProxy({
    target: new URL(`http://${upHost}`),
    header: 'authorization',
    token: async () => `tok-${++n}`,
    isRefusal: isIapRefusal,
    onIapRefusal: async () => ({ explanation: 'refused', retry: false }),
    health: () => ({ ok: true, body: { ok: true } }),
    listen: { host: '127.0.0.1', port: 0 },
    log: () => undefined,
    ...overrides,
  });
  return proxy;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request to the proxy, on a connection of its own unless an agent is given. */
function call(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxy!.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Raw bytes to the proxy, for request forms http.request would not send; resolves with all it answers. */
function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy!.port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

// Requests going up: the token in the chosen header, nothing of the client's connection, the target's Host.
describe('upstream request headers', () => {
  test('header authorization: the token replaces the client Authorization; Proxy-Authorization and hop-by-hop are dropped', async () => {
    await start();
    const hop = { connection: 'keep-alive, x-marker', 'keep-alive': 'timeout=5', te: 'trailers', upgrade: 'websocket' };
    const headers = { ...hop, 'proxy-connection': 'keep-alive', authorization: 'Basic dXNlcg==', 'proxy-authorization': 'Basic cA==' };
    const answer = await call('/app?q=1', { headers: { ...headers, 'x-request-id': 'r-17' } });
    expect(answer.status).toBe(200);
    expect(seen).toHaveLength(1);
    const up = seen[0]!;
    expect(up.url).toBe('/app?q=1');
    expect(up.headers['authorization']).toBe('Bearer tok-1');
    expect(up.headers['proxy-authorization']).toBeUndefined();
    expect(up.headers['x-request-id']).toBe('r-17');
    expect(up.headers['host']).toBe(upHost);
    expect(up.headers['connection']).toBe('keep-alive'); // the proxy's own agent, not the client's "x-marker"
    for (const name of ['keep-alive', 'te', 'upgrade', 'proxy-connection', 'x-marker']) expect(up.headers[name]).toBeUndefined();
  });

  test('header proxy-authorization: the token goes there, the client Authorization is passed through untouched', async () => {
    await start({ header: 'proxy-authorization' });
    await call('/', { headers: { authorization: 'Bearer app-session', 'proxy-authorization': 'Basic client' } });
    expect(seen[0]!.headers['authorization']).toBe('Bearer app-session');
    expect(seen[0]!.headers['proxy-authorization']).toBe('Bearer tok-1');
  });

  test('absolute-form GET http://other.example/x reaches the target as /x with the target Host', async () => {
    await start();
    const answer = await raw(`GET http://other.example/x?y=2 HTTP/1.1\r\nHost: 127.0.0.1:${proxy!.port}\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen.map((up) => [up.url, up.headers['host']])).toEqual([['/x?y=2', upHost]]);
    // Another Host (a page's own name resolving here, DNS rebinding) is refused, and reaches nothing.
    expect(await raw('GET /x HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 421 /);
    expect(seen).toHaveLength(1);
  });
});

// Answers coming down: redirects and cookies keep the client on the proxy; nothing else is changed.
describe('downstream response headers', () => {
  test.each([
    ['the target origin is rewritten to the proxy', (up: string) => `http://${up}/next?a=1#frag`, (px: string) => `${px}/next?a=1#frag`],
    [
      'another origin is left alone',
      () => 'https://accounts.google.com/o/oauth2/auth?x=1',
      () => 'https://accounts.google.com/o/oauth2/auth?x=1',
    ],
    ['a relative one is left alone', () => '/login?next=%2F', () => '/login?next=%2F'],
  ])('Location: %s', async (_name, location, expected) => {
    const { url } = await start();
    handler = (_req, res) => res.writeHead(302, { location: location(upHost) }).end();
    const answer = await call('/');
    expect(answer.status).toBe(302);
    expect(answer.headers['location']).toBe(expected(url));
  });

  test('Set-Cookie: Domain naming the target (or .target) is dropped, another Domain kept, every cookie kept', async () => {
    await start();
    const cookies = ['a=1; Domain=127.0.0.1; Path=/', 'b=2; Path=/; domain=.127.0.0.1; HttpOnly', 'c=3; Domain=other.example; Secure'];
    handler = (_req, res) => res.writeHead(200, { 'set-cookie': cookies }).end();
    const answer = await call('/');
    expect(answer.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Domain=other.example; Secure']);
  });
});

// Failures are the proxy's own short answers, with the reason in the body and in x-iap-token-diagnosis.
describe('failures', () => {
  test('an upstream that never answers: 504 after responseTimeoutMs', async () => {
    await start({ responseTimeoutMs: 300 });
    handler = () => undefined;
    const began = Date.now();
    const answer = await call('/slow');
    expect(answer.status).toBe(504);
    expect(answer.body.toString()).toBe(`iap-token proxy: ${upHost} sent no answer within 0.3 s (the proxy's response timeout)\n`);
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    expect(Date.now() - began).toBeLessThan(5_000);
  });

  test('an upstream that resets the connection: 502', async () => {
    await start();
    handler = (req) => req.socket.destroy();
    const answer = await call('/reset');
    expect(answer.status).toBe(502);
    expect(answer.body.toString()).toBe(`iap-token proxy: the connection to ${upHost} was reset\n`);
  });

  test('token() rejecting: 503 with the reason, and nothing reaches upstream', async () => {
    await start({ token: () => Promise.reject(new Error('minting failed: invalid_grant')) });
    const answer = await call('/');
    expect(answer.status).toBe(503);
    expect(answer.body.toString()).toBe('iap-token proxy: no token to send: minting failed: invalid_grant\n');
    expect(answer.headers['x-iap-token-diagnosis']).toBe('no token to send: minting failed: invalid_grant');
    expect(seen).toHaveLength(0);
  });
});

// IAP's own refusals: explained to the client under IAP's body, and retried once with a fresh token when asked.
describe('IAP refusals', () => {
  const IAP_BODY = 'Invalid IAP credentials: Expired token\n';
  const refuse: Handler = (_req, res) => res.writeHead(401, { 'x-goog-iap-generated-response': 'true' }).end(IAP_BODY);
  const refusals: [number, string, string][] = [];
  const onIapRefusal = (retry: boolean) => async (status: number, body: string, sentToken: string) => {
    refusals.push([status, body, sentToken]);
    return { explanation: 'the token had expired', retry };
  };
  afterEach(() => {
    refusals.length = 0;
  });

  test('onIapRefusal is told status, body and token; the client gets 401, the body, the explanation and the diagnosis header', async () => {
    await start({ onIapRefusal: onIapRefusal(false) });
    handler = refuse;
    const answer = await call('/');
    expect(refusals).toEqual([[401, IAP_BODY, 'tok-1']]);
    expect(answer.status).toBe(401);
    expect(answer.body.toString()).toBe('Invalid IAP credentials: Expired token\n\niap-token: the token had expired\n');
    expect(answer.headers['x-iap-token-diagnosis']).toBe('the token had expired');
    expect(seen).toHaveLength(1);
  });

  test('retry: a GET is sent once more with the next token', async () => {
    await start({ onIapRefusal: onIapRefusal(true) });
    handler = (req, res, body, n) => (n === 1 ? refuse(req, res, body, n) : res.end('welcome'));
    const answer = await call('/page');
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('welcome');
    expect(seen.map((up) => up.headers['authorization'])).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(refusals).toHaveLength(1);
  });

  test('retry: a POST with a body is not retried', async () => {
    await start({ onIapRefusal: onIapRefusal(true) });
    handler = refuse;
    const answer = await call('/form', { method: 'POST', body: 'name=value' });
    expect(answer.status).toBe(401);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.body.toString()).toBe('name=value');
  });

  test('a refused HEAD gets the status and diagnosis but no body', async () => {
    await start({ onIapRefusal: onIapRefusal(false) });
    handler = (_req, res) => res.writeHead(401, { 'x-goog-iap-generated-response': 'true' }).end();
    const answer = await call('/', { method: 'HEAD' });
    expect(answer.status).toBe(401);
    expect(answer.headers['x-iap-token-diagnosis']).toBe('the token had expired');
    expect(answer.body.length).toBe(0);
  });
});

// What the proxy answers itself, never reaching upstream.
describe('the proxy’s own endpoints', () => {
  test.each([
    [true, 200],
    [false, 503],
  ])('/.iap-token/healthz with ok=%s: %d and the health body', async (ok, status) => {
    await start({ health: () => ({ ok, body: { ok, refreshes: 3 } }) });
    const answer = await call('/.iap-token/healthz?full');
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.body.toString())).toEqual({ ok, refreshes: 3 });
    expect(seen).toHaveLength(0);
  });

  test('CONNECT is refused with 405', async () => {
    await start();
    const answer = await raw('CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(seen).toHaveLength(0);
  });
});

// Throughput: kept-alive upstream connections, bodies streamed whole both ways, a clean close.
describe('connections and bodies', () => {
  test('20 sequential requests reuse upstream connections', async () => {
    await start();
    const before = connections;
    for (let i = 0; i < 20; i++) expect((await call(`/n/${i}`)).status).toBe(200);
    expect(seen).toHaveLength(20);
    expect(connections - before).toBeLessThanOrEqual(2);
  });

  test('a 5 MB response and a 5 MB request body pass intact', async () => {
    await start();
    const data = randomBytes(5 * 1024 * 1024);
    handler = (req, res, body) => {
      if (req.method === 'POST') return void res.end(`${body.length} ${sha256(body)}`);
      for (let at = 0; at < data.length; at += 64 * 1024) res.write(data.subarray(at, at + 64 * 1024));
      res.end();
    };
    const down = await call('/big');
    expect(down.body.length).toBe(data.length);
    expect(sha256(down.body)).toBe(sha256(data));
    const up = await call('/upload', { method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' } });
    expect(up.body.toString()).toBe(`${data.length} ${sha256(data)}`);
  });

  test('close() resolves with an idle kept-alive client, and frees the port', async () => {
    const { port } = await start();
    const agent = new Agent({ keepAlive: true });
    expect((await call('/', { agent })).status).toBe(200);
    await proxy!.close();
    proxy = undefined;
    agent.destroy();
    const again = createTcpServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => again.close(resolve));
  });
});

// Found by review: each broke a common use.
describe('answers and requests that once broke the proxy', () => {
  test('a single Set-Cookie (a string, not a list) passes, its Domain rewritten', async () => {
    await start();
    handler = (_req, res) => res.writeHead(200, { 'set-cookie': 'session=1; Domain=127.0.0.1; Path=/' }).end('ok');
    const answer = await call('/');
    expect([answer.status, answer.headers['set-cookie']]).toEqual([200, ['session=1; Path=/']]);
  });

  test('an upload with Expect: 100-continue streams through (the header is not sent on)', async () => {
    await start();
    const answer = await call('/upload', { method: 'PUT', headers: { expect: '100-continue', 'content-length': '5' }, body: 'hello' });
    expect(answer.status).toBe(200);
    expect(seen[0]?.headers['expect']).toBeUndefined();
  });

  test("IAP's compressed refusal is read decoded, and reaches the client decoded", async () => {
    const told: string[] = [];
    await start({
      onIapRefusal: async (_status, body) => {
        told.push(body);
        return { explanation: 'the token expired', retry: false };
      },
    });
    handler = (_req, res) =>
      res
        .writeHead(401, { 'x-goog-iap-generated-response': 'true', 'content-encoding': 'gzip' })
        .end(gzipSync('OpenID Connect token expired: JWT has expired'));
    const answer = await call('/x', { headers: { 'accept-encoding': 'gzip' } });
    expect(told).toEqual(['OpenID Connect token expired: JWT has expired']);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.body.toString()).toBe('OpenID Connect token expired: JWT has expired\n\niap-token: the token expired\n');
  });
});

test('headers the client names in Connection stay on the first hop', async () => {
  await start();
  await call('/', { headers: { connection: 'keep-alive, x-internal', 'x-internal': 'hop', 'x-kept': 'end' } });
  expect(seen[0]?.headers['x-internal']).toBeUndefined();
  expect(seen[0]?.headers['x-kept']).toBe('end');
});
