import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestProxy } from '../test-bed/proxy.ts';
import { ApiError } from '../src/errors.ts';
import { Http, type HttpResponse, type ServiceRequest, type Transport } from '../src/http/client.ts';
import { snippet } from '../src/http/failures.ts';
import { googleFailure as parseFailure } from '../src/google/failure.ts';

const request: ServiceRequest = {
  what: 'Test call',
  method: 'POST',
  url: 'https://sts.googleapis.com/v1/token',
  body: '{}',
  failure: parseFailure,
};

/** A transport that plays a script: a status (with optional headers/body) or an error code per attempt. */
function scripted(...steps: Array<number | string | HttpResponse>): { transport: Transport; calls: () => number } {
  let calls = 0;
  const transport: Transport = async () => {
    const step = steps[Math.min(calls++, steps.length - 1)];
    if (typeof step === 'string') throw Object.assign(new Error(step), { code: step });
    if (typeof step === 'number')
      return {
        status: step,
        headers: {},
        body: step < 300 ? '{"ok":true}' : '{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}',
      };
    return step as HttpResponse;
  };
  return { transport, calls: () => calls };
}

function client(transport: Transport, extra: Partial<ConstructorParameters<typeof Http>[0]> = {}) {
  const sleeps: number[] = [];
  const log: string[] = [];
  let clock = 0;
  const http = new Http({
    transport,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    random: () => 0.5,
    log: (line) => log.push(line),
    ...extra,
  });
  return { http, sleeps, log };
}

describe('retries', () => {
  test('429, 5xx and connection errors are retried with growing, jittered waits, then the answer is returned', async () => {
    const { transport, calls } = scripted(503, 'ECONNRESET', 429, 500, 200);
    const { http, sleeps, log } = client(transport);
    await expect(http.json(request)).resolves.toEqual({ ok: true });
    expect(calls()).toBe(5);
    // Half the ceiling plus half the ceiling times random(0.5): 0.75 × 500 ms × 2^n, capped at 8 s.
    expect(sleeps).toEqual([375, 750, 1500, 3000]);
    expect(log[0]).toBe('Test call: HTTP 503 (attempt 1 of 5); retrying in 0.4 s (30.0 s left)');
    expect(log[1]).toBe('Test call: the connection to sts.googleapis.com was reset (attempt 2 of 5); retrying in 0.8 s (29.6 s left)');
  });

  test('jitter stays within half to all of the ceiling', async () => {
    for (const random of [0, 0.999]) {
      const { transport } = scripted(503, 200);
      const { http, sleeps } = client(transport, { random: () => random });
      await http.json(request);
      expect(sleeps[0]).toBeGreaterThanOrEqual(250);
      expect(sleeps[0]).toBeLessThanOrEqual(500);
    }
  });

  test('gives up after 5 attempts and says so', async () => {
    const { transport, calls } = scripted(503);
    const { http } = client(transport);
    const error = await http.json(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe('Test call failed after 5 attempts: HTTP 503 UNAVAILABLE: busy');
    expect(calls()).toBe(5);
  });

  test('connection failures that never heal end in an error naming the host', async () => {
    const { transport } = scripted('ECONNREFUSED');
    const { http } = client(transport, { attempts: 2 });
    await expect(http.json(request)).rejects.toThrow('Test call failed after 2 attempts: sts.googleapis.com refused the connection');
  });

  test.each([400, 401, 403, 404, 409, 501])('HTTP %i is not retried', async (status) => {
    const { transport, calls } = scripted(status, 200);
    const { http, sleeps } = client(transport);
    await expect(http.json(request)).rejects.toThrow(`HTTP ${status}`);
    expect(calls()).toBe(1);
    expect(sleeps).toEqual([]);
  });

  test('Retry-After is honoured in seconds and as a date; zero never means a busy loop; a long one ends the retries', async () => {
    const { transport, calls } = scripted(
      { status: 429, headers: { 'retry-after': '2' }, body: '' },
      { status: 503, headers: { 'retry-after': new Date(5_000).toUTCString() }, body: '' },
      { status: 429, headers: { 'retry-after': '0' }, body: '' },
      {
        status: 429,
        headers: { 'retry-after': '3600' },
        body: '{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}',
      },
      200,
    );
    const { http, sleeps } = client(transport, { budgetMs: 60_000 });
    await expect(http.json(request)).rejects.toThrow('failed after 4 attempts: HTTP 429 RESOURCE_EXHAUSTED: slow down');
    // 2 s as asked; the date is 5 s after the epoch with the clock at 2 s; 0 gets the jittered backoff (1.5 s).
    expect(sleeps).toEqual([2000, 3000, 1500]);
    expect(calls()).toBe(4);
  });

  test('no attempt starts once the time budget would be exceeded', async () => {
    const { transport, calls } = scripted(503);
    const { http } = client(transport, { budgetMs: 1_000 });
    await expect(http.json(request)).rejects.toThrow('after 2 attempts');
    expect(calls()).toBe(2);
  });
});

describe('answers', () => {
  test('a 2xx that is not a JSON object is an error, quoted briefly', async () => {
    const { transport } = scripted({ status: 200, headers: {}, body: '<html><title>Sign in</title></html>' });
    const { http } = client(transport);
    await expect(http.json(request)).rejects.toThrow('the response is not a JSON object (HTML page "Sign in")');
  });

  test('parses Google API errors with reason and permission', () => {
    const body = JSON.stringify({
      error: {
        code: 403,
        message: "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).",
        status: 'PERMISSION_DENIED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'IAM_PERMISSION_DENIED',
            metadata: { permission: 'iam.serviceAccounts.getOpenIdToken' },
          },
        ],
      },
    });
    expect(parseFailure({ status: 403, headers: {}, body })).toEqual({
      status: 403,
      code: 'PERMISSION_DENIED',
      message: "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).",
      reason: 'IAM_PERMISSION_DENIED',
      permission: 'iam.serviceAccounts.getOpenIdToken',
    });
  });

  test('parses OAuth errors, plain text, and redirects without following them', () => {
    expect(
      parseFailure({ status: 400, headers: {}, body: '{"error":"invalid_grant","error_description":"Invalid JWT Signature."}' }),
    ).toEqual({
      status: 400,
      code: 'invalid_grant',
      message: 'Invalid JWT Signature.',
    });
    expect(parseFailure({ status: 404, headers: {}, body: 'Not Found\n' })).toEqual({ status: 404, message: 'Not Found' });
    expect(
      parseFailure({ status: 302, headers: { location: 'https://accounts.google.com/o/oauth2/v2/auth?client_id=x' }, body: '' }).message,
    ).toBe('a redirect to https://accounts.google.com, not followed: tokens are never sent on');
  });

  test('a per-request policy: its own rule for what heals, its own log wording and limits', async () => {
    const { transport, calls } = scripted(403, 403, 200);
    const { http, sleeps, log } = client(transport);
    const answer = await http.send({
      ...request,
      retry: {
        retryable: (r) => r.status === 403,
        describe: (r) => `IAP ${r.status}`,
        attempts: 1000,
        budgetMs: 300_000,
        baseDelayMs: 2000,
        maxDelayMs: 15_000,
      },
    });
    expect(answer).toMatchObject({ attempts: 3, response: { status: 200 } });
    expect(calls()).toBe(3);
    expect(sleeps).toEqual([1500, 3000]);
    expect(log[0]).toBe('Test call: IAP 403 (attempt 1); retrying in 1.5 s (300.0 s left)');
  });

  test('long bodies are cut', () => {
    expect(snippet('x'.repeat(1000))).toHaveLength(301);
  });
});

describe('the node transport against a local server', () => {
  let server: Server;
  let base = '';
  let hits: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url} ${req.headers['authorization'] ?? ''}`);
      if (req.url === '/slow') return void timers.push(setTimeout(() => res.end('{}'), 2_000));
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.2:1/steal' });
        return void res.end();
      }
      if (req.url === '/reset') return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, length: req.headers['content-length'] ?? null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    timers.forEach(clearTimeout);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => {
    hits = [];
  });

  test('sends the body with its length and parses the answer', async () => {
    const http = new Http();
    await expect(http.json({ failure: parseFailure, what: 'Echo', method: 'POST', url: `${base}/echo`, body: 'a=1' })).resolves.toEqual({
      method: 'POST',
      length: '3',
    });
  });

  test('an answer slower than the timeout is abandoned and retried, within the bound', async () => {
    const http = new Http({ timeoutMs: 200, attempts: 2, sleep: async () => undefined });
    await expect(http.json({ failure: parseFailure, what: 'Slow', method: 'GET', url: `${base}/slow` })).rejects.toThrow(
      `Slow failed after 2 attempts: no complete answer from ${base.slice(7)} within 0.2 s`,
    );
    expect(hits).toHaveLength(2);
  });

  test('a reset connection is a retryable network failure', async () => {
    const http = new Http({ attempts: 3, sleep: async () => undefined });
    await expect(http.json({ failure: parseFailure, what: 'Reset', method: 'GET', url: `${base}/reset` })).rejects.toThrow(
      'failed after 3 attempts: the connection to',
    );
    expect(hits).toHaveLength(3);
  });

  test('a redirect is never followed, so the token goes nowhere else', async () => {
    const http = new Http();
    const error = await http
      .json({
        failure: parseFailure,
        what: 'Redirected',
        method: 'GET',
        url: `${base}/redirect`,
        headers: { authorization: 'Bearer secret-token' },
      })
      .catch((e: unknown) => e as ApiError);
    expect(error.message).toBe('Redirected failed: HTTP 302: a redirect to http://127.0.0.2:1, not followed: tokens are never sent on');
    expect(hits).toEqual(['GET /redirect Bearer secret-token']);
  });

  describe('proxies', () => {
    let proxy: TestProxy;
    const saved = { ...process.env };
    beforeAll(async () => {
      proxy = await new TestProxy(() => Number(new URL(base).port)).start();
    });
    afterAll(async () => proxy.stop());
    afterEach(() => {
      proxy.connects.length = 0;
      for (const name of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    });

    test('http_proxy carries the request; the target name is resolved by the proxy, not here', async () => {
      process.env['http_proxy'] = proxy.url;
      const http = new Http({ attempts: 1 });
      await expect(
        http.json({ failure: parseFailure, what: 'Proxied', method: 'POST', url: 'http://sts.fake-google.test:80/v1/token', body: 'x' }),
      ).resolves.toEqual({
        method: 'POST',
        length: '1',
      });
      expect(proxy.connects).toEqual(['sts.fake-google.test:80']);
    });

    test('a proxy that accepts the connection and never answers CONNECT still times out, and is retried', async () => {
      const { createServer: createTcpServer } = await import('node:net');
      const sockets: Array<import('node:net').Socket> = [];
      const silent = createTcpServer((socket) => void sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      process.env['https_proxy'] = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      try {
        const http = new Http({ attempts: 2, timeoutMs: 300, sleep: async () => undefined });
        await expect(
          http.json({ failure: parseFailure, what: 'Stalled', method: 'GET', url: 'https://sts.fake-google.test/v1/x' }),
        ).rejects.toThrow('Stalled failed after 2 attempts: no complete answer from sts.fake-google.test within 0.3 s');
        expect(sockets).toHaveLength(2);
      } finally {
        sockets.forEach((socket) => socket.destroy());
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    test('a proxy that refuses the tunnel (407) is not asked again', async () => {
      const { createServer: createHttpServer } = await import('node:http');
      let connects = 0;
      const refusing = createHttpServer();
      refusing.on('connect', (_req, socket) => {
        connects++;
        socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      });
      await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
      process.env['https_proxy'] = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
      try {
        const http = new Http({ sleep: async () => undefined });
        await expect(
          http.json({ failure: parseFailure, what: 'Refused', method: 'GET', url: 'https://sts.fake-google.test/v1/x' }),
        ).rejects.toThrow('Refused failed: the proxy (https_proxy/http_proxy) did not open a tunnel to sts.fake-google.test');
        expect(connects).toBe(1);
      } finally {
        await new Promise((resolve) => refusing.close(resolve));
      }
    });

    test('no_proxy sends matching hosts direct', async () => {
      process.env['HTTP_PROXY'] = proxy.url;
      process.env['NO_PROXY'] = '.fake-google.test';
      const http = new Http({ attempts: 1, timeoutMs: 2_000 });
      await expect(
        http.json({ failure: parseFailure, what: 'Direct', method: 'GET', url: 'http://sts.fake-google.test/x' }),
      ).rejects.toThrow(ApiError);
      expect(proxy.connects).toEqual([]);
    });
  });
});

test('the default sleep really waits (the only test that waits: 250 ms)', async () => {
  const { transport, calls } = scripted(503, 200);
  const http = new Http({ transport, random: () => 0, timeoutMs: 1_000 });
  const started = Date.now();
  await http.json(request);
  expect(calls()).toBe(2);
  expect(Date.now() - started).toBeGreaterThanOrEqual(240);
});
