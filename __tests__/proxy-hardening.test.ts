import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createCertificateAuthority } from '../src/agent/certificates.ts';
import { startForwardProxy, type ForwardProxyOptions } from '../src/http/forward-proxy.ts';
import { createForwarder, type Forwarder } from '../src/http/forwarder.ts';
import { peerPolicy } from '../src/http/gate.ts';
import { findOwner, forms } from '../src/http/peer-owner.ts';
import { startReverseProxy, type ReverseProxyOptions, type RunningProxy } from '../src/http/reverse-proxy.ts';
import { hostMatches } from '../src/urls.ts';
import { websocketRoundTrip } from '../test-bed/fake-google/streams.ts';
import { TestProxy } from '../test-bed/proxy.ts';
import { isIapRefusal } from '../src/iap/answers.ts';

/**
 * The proxies against what real clients send and hostile or slow upstreams do (issue 21): h2c upgrade offers,
 * cross-site requests and TRACE through the forward proxy, quiet streams, WebSockets behind an egress proxy, bounded
 * connections, clients that leave, large headers and 103 Early Hints. In process, against upstreams on 127.0.0.1.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
let upstream: Server;
let upPort = 0;
let handler: Handler = (_req, res) => res.end('ok');
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }> = [];
let proxy: RunningProxy | undefined;
const logged: string[] = [];

beforeAll(async () => {
  upstream = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  // A WebSocket "echo" of the fewest bytes: the handshake, then every byte back.
  upstream.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upPort = (upstream.address() as AddressInfo).port;
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  seen.length = 0;
  logged.length = 0;
  handler = (_req, res) => res.end('ok');
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

async function reverse(overrides: Partial<ReverseProxyOptions> = {}): Promise<RunningProxy> {
  proxy = await startReverseProxy({
    target: new URL(`http://127.0.0.1:${upPort}`),
    header: 'authorization',
    token: async () => 'tok',
    isRefusal: isIapRefusal,
    onIapRefusal: async () => ({ explanation: 'refused', retry: false }),
    health: () => ({ ok: true, body: { ok: true } }),
    listen: { host: '127.0.0.1', port: 0 },
    log: (line) => logged.push(line),
    ...overrides,
  });
  return proxy;
}

const CA = createCertificateAuthority(['app.example.com']);

/** A forward proxy whose intercepted host app.example.com is served by the plain-http upstream here. */
async function forward(overrides: Partial<ForwardProxyOptions> = {}): Promise<RunningProxy> {
  const forwarders: Forwarder[] = [];
  const started = await startForwardProxy({
    intercepts: (host) => hostMatches(['app.example.com'], host),
    forwarderFor: () => {
      const forwarder = createForwarder({
        target: new URL(`http://127.0.0.1:${upPort}`),
        header: 'authorization',
        token: async () => 'tok',
        isRefusal: isIapRefusal,
        onIapRefusal: async () => ({ explanation: 'refused', retry: false }),
        log: (line) => logged.push(line),
      });
      forwarders.push(forwarder);
      return forwarder;
    },
    certificateFor: (host) => CA.leafFor(host),
    health: () => ({ ok: true, body: { ok: true } }),
    listen: { host: '127.0.0.1', port: 0 },
    log: (line) => logged.push(line),
    ...overrides,
  });
  proxy = { ...started, close: async () => void (await Promise.all([started.close(), ...forwarders.map((f) => f.close())])) };
  return proxy;
}

/** Raw bytes over `socket`; resolves with everything until the far end closes, or until `until` matches. */
function exchange(socket: Socket, text: string | Buffer, until?: (answer: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (until?.(answer)) done();
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.write(text);
  });
}

function raw(port: number, text: string, until?: (answer: string) => boolean): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  return once(socket, 'connect').then(() => exchange(socket, text, until));
}

/** A TLS connection to app.example.com through the forward proxy (CONNECT, then TLS trusting the run's CA). */
async function throughForward(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('CONNECT app.example.com:443 HTTP/1.1\r\nhost: app.example.com:443\r\n\r\n');
  const [head] = (await once(socket, 'data')) as [Buffer];
  expect(head.toString()).toMatch(/^HTTP\/1\.1 200/);
  const tls = tlsConnect({ socket, servername: 'app.example.com', ca: CA.certificatePem });
  await once(tls, 'secureConnect');
  return tls;
}

/** A whole answer: a head with content-length and that much body. */
const whole = (text: string): boolean => {
  const end = text.indexOf('\r\n\r\n');
  const length = /content-length: (\d+)/i.exec(text.slice(0, end))?.[1];
  return end !== -1 && length !== undefined && text.length - end - 4 >= Number(length);
};

describe('2. who may use the proxies', () => {
  test('the kernel spells addresses per word in host order; the peer is the line whose local end is our remote end', () => {
    expect(forms('127.0.0.1', true)).toEqual(['0100007F', '0000000000000000FFFF00000100007F']);
    expect(forms('127.0.0.1', false)).toEqual(['7F000001', '00000000000000000000FFFF7F000001']);
    expect(forms('::1', true)).toEqual(['00000000000000000000000001000000']);
    // A real /proc/net/tcp: our listener (uid 0), a client of uid 1001 on port 0xC350 to it, and our side of that.
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 2 1 0000000000000000 20 4 30 10 -1',
      '   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    expect(findOwner(table, ['0100007F:C350'], ['0100007F:1F90'])).toBe(1001);
    expect(findOwner(table, ['0100007F:C351'], ['0100007F:1F90'])).toBeUndefined();
  });

  test('on loopback here (Linux) the user is checked; elsewhere nobody can be, and the policy says so', () => {
    expect(peerPolicy('127.0.0.1')).toEqual({ onlyUid: process.getuid?.(), says: expect.stringContaining('serves only uid') });
    expect(peerPolicy('0.0.0.0')).toEqual({ onlyUid: undefined, says: 'cannot check who connects (it listens on 0.0.0.0)' });
  });

  test('where users cannot be told apart, the forward proxy asks every request for the run’s credential', async () => {
    const credential = 'iap-token:s3cret';
    const { port } = await forward({ peers: { onlyUid: undefined, says: 'cannot check' }, credential });
    const basic = `Basic ${Buffer.from(credential).toString('base64')}`;
    const connectTo = (extra: string) =>
      raw(port, `CONNECT app.example.com:443 HTTP/1.1\r\nhost: app.example.com:443\r\n${extra}\r\n`, (text) => text.includes('\r\n\r\n'));
    const refused = await connectTo('');
    expect(refused).toMatch(/^HTTP\/1\.1 407/);
    expect(refused).toContain('proxy-authenticate: Basic realm="iap-token"');
    expect(await connectTo('proxy-authorization: Basic d3Jvbmc6d3Jvbmc=\r\n')).toMatch(/^HTTP\/1\.1 407/);
    expect(await connectTo(`proxy-authorization: ${basic}\r\n`)).toMatch(/^HTTP\/1\.1 200/);
    // The health check tells a stranger nothing but that a credential is needed.
    const health = await raw(port, `GET /.iap-token/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    expect(health).toMatch(/^HTTP\/1\.1 407/);
    expect(health).not.toContain('"ok"');
    expect(
      await raw(port, `GET /.iap-token/healthz HTTP/1.1\r\nhost: x\r\nproxy-authorization: ${basic}\r\nconnection: close\r\n\r\n`),
    ).toMatch(/^HTTP\/1\.1 200/);
    // A proxy that can tell nobody apart and has no credential does not start.
    await expect(forward({ peers: { onlyUid: undefined, says: 'cannot check' } })).rejects.toThrow('needs a credential');
  });
});

describe('3. the forward proxy refuses what the reverse proxy refuses', () => {
  test('a cross-site POST, a cross-site WebSocket and TRACE are refused before anything reaches the app', async () => {
    const { port } = await forward();
    const post = await exchange(
      await throughForward(port),
      'POST /transfer HTTP/1.1\r\nhost: app.example.com\r\norigin: https://evil.example\r\ncontent-length: 2\r\n\r\nhi',
      whole,
    );
    expect(post).toMatch(/^HTTP\/1\.1 403/);
    expect(post).toContain('a request from another site is not sent on with the token');
    const socket = await exchange(
      await throughForward(port),
      'GET /ws HTTP/1.1\r\nhost: app.example.com\r\nupgrade: websocket\r\nconnection: Upgrade\r\norigin: https://evil.example\r\nsec-websocket-key: x\r\nsec-websocket-version: 13\r\n\r\n',
    );
    expect(socket).toMatch(/^HTTP\/1\.1 403/);
    const trace = await exchange(await throughForward(port), 'TRACE / HTTP/1.1\r\nhost: app.example.com\r\n\r\n', whole);
    expect(trace).toMatch(/^HTTP\/1\.1 405/);
    expect(seen).toEqual([]);
  });

  test('the same requests from the app’s own pages (or from this machine) go through, with the token', async () => {
    const { port } = await forward();
    for (const origin of ['https://app.example.com', 'http://localhost:3000']) {
      const answer = await exchange(
        await throughForward(port),
        `POST /save HTTP/1.1\r\nhost: app.example.com\r\norigin: ${origin}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 200/);
    }
    expect(seen.map((s) => [s.method, s.headers['authorization'], s.body.toString()])).toEqual([
      ['POST', 'Bearer tok', 'hi'],
      ['POST', 'Bearer tok', 'hi'],
    ]);
  });
});

describe('4. an h2c upgrade offer is declined, and the request served as HTTP/1.1', () => {
  const h2cPost = (host: string) =>
    `POST /h2c?x=1 HTTP/1.1\r\nhost: ${host}\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\ncontent-length: 11\r\n\r\nhello world`;

  test('reverse proxy: the body goes up, no upgrade headers do, and the answer is framed once', async () => {
    handler = (_req, res, body) => res.end(`got ${body.length}`); // chunked: no content-length
    const { port } = await reverse();
    const answer = await raw(port, h2cPost(`127.0.0.1:${port}`), (text) => text.includes('0\r\n\r\n') || whole(text));
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    // A chunked answer is framed by the proxy's server, once: its body is the app's, not chunks inside chunks.
    expect(answer).toMatch(/\r\n\r\n(6\r\ngot 11\r\n0\r\n\r\n|got 11)$/);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body.toString()).toBe('hello world');
    expect(seen[0]?.url).toBe('/h2c?x=1');
    expect(seen[0]?.headers).not.toHaveProperty('upgrade');
    expect(seen[0]?.headers).not.toHaveProperty('http2-settings');
  });

  test('forward proxy: the same inside an intercepted connection, and a kept-alive second request after it', async () => {
    handler = (_req, res, body) => res.end(`got ${body.length}`);
    const { port } = await forward();
    const tls = await throughForward(port);
    const two = `${h2cPost('app.example.com')}GET /second HTTP/1.1\r\nhost: app.example.com\r\nconnection: close\r\n\r\n`;
    const answer = await exchange(tls, two);
    expect(answer.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    // Pipelined requests may reach the app side by side, in either order.
    expect(seen.map((s) => [s.url, s.body.toString()]).sort()).toEqual([
      ['/h2c?x=1', 'hello world'],
      ['/second', ''],
    ]);
  });
});

describe('5. an answered exchange has no idle limit; waiting for an answer does, and says so', () => {
  test('a stream quiet for longer than the response timeout after its head is not cut', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      // Quiet for three times the response timeout, then the rest.
      setTimeout(() => res.end('last'), 900);
    };
    const { port } = await reverse({ responseTimeoutMs: 300 });
    const answer = await raw(port, `GET /follow HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('first ');
    expect(answer).toContain('last');
    expect(logged).toEqual([]);
  });

  test('an app that never begins its answer: 504 naming the timeout, and a log line', async () => {
    handler = () => undefined;
    const { port } = await reverse({ responseTimeoutMs: 200 });
    const answer = await raw(port, `GET /never?secret=1 HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`, whole);
    expect(answer).toMatch(/^HTTP\/1\.1 504/);
    expect(answer).toContain(`127.0.0.1:${upPort} sent no answer within 0.2 s (the proxy's response timeout)`);
    expect(logged).toEqual([`GET /never: 127.0.0.1:${upPort} sent no answer within 0.2 s (the proxy's response timeout).`]);
  });

  test('an idle WebSocket through the forward proxy outlives the idle limit of a connection with no exchange', async () => {
    const { port } = await forward({ tunnelIdleTimeoutMs: 200 });
    // The limit is real: an intercepted connection that never sends a request is closed by it.
    const silent = await throughForward(port);
    await once(silent, 'close');
    const tls = await throughForward(port);
    tls.write(
      'GET /ws HTTP/1.1\r\nhost: app.example.com\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: x\r\nsec-websocket-version: 13\r\n\r\n',
    );
    const [head] = (await once(tls, 'data')) as [Buffer];
    expect(head.toString()).toMatch(/^HTTP\/1\.1 101/);
    // Quiet for four times that limit: an open WebSocket is the browser's and the app's to close, not the proxy's.
    let closed = false;
    tls.once('close', () => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(closed).toBe(false);
    tls.write('ping');
    const [echo] = (await once(tls, 'data')) as [Buffer];
    expect(echo.toString()).toBe('ping');
    tls.destroy();
  });
});

describe('6. WebSockets leave through https_proxy like every other request', () => {
  let egress: TestProxy;
  const saved = { http_proxy: process.env['http_proxy'], no_proxy: process.env['no_proxy'] };
  beforeAll(async () => {
    egress = await new TestProxy(() => upPort).start();
  });
  afterAll(async () => {
    await egress.stop();
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  test('a WebSocket to a host only the egress proxy reaches is tunnelled through it', async () => {
    process.env['http_proxy'] = egress.url;
    delete process.env['no_proxy'];
    egress.connects.length = 0;
    const { port } = await reverse({ target: new URL('http://ws.internal.test:8080') });
    const echo = await websocketRoundTrip(`ws://127.0.0.1:${port}/ws`, 'through the egress proxy');
    expect(echo).toBe('through the egress proxy');
    expect(egress.connects).toEqual(['ws.internal.test:8080']);
    expect(seen[0]?.headers).toMatchObject({ authorization: 'Bearer tok', host: 'ws.internal.test:8080' });
  });

  test('no_proxy exempts the host: the WebSocket goes straight', async () => {
    process.env['http_proxy'] = egress.url;
    process.env['no_proxy'] = '127.0.0.2';
    egress.connects.length = 0;
    const { port } = await reverse({ target: new URL(`http://127.0.0.1:${upPort}`) });
    expect(await websocketRoundTrip(`ws://127.0.0.1:${port}/ws`, 'straight')).toBe('straight');
    expect(egress.connects).toEqual([]);
  });
});

describe('7. bounded connections', () => {
  test('past max connections a new one gets 503 at once; when one closes, the next is served', async () => {
    const { port } = await reverse({ maxConnections: 3 });
    const held: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      // A whole answer proves the connection was admitted.
      await new Promise<void>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (whole(text)) resolve();
        });
        socket.write(`GET /held HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
      });
      held.push(socket);
    }
    const refused = await raw(port, `GET /fourth HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    expect(refused).toMatch(/^HTTP\/1\.1 503/);
    expect(refused).toContain('the proxy already holds 3 connections');
    expect(logged.some((line) => line.includes('holds 3 connections'))).toBe(true);
    const first = held.shift();
    first?.destroy();
    await once(first!, 'close');
    // The proxy sees the close a moment after the client: the next connection is admitted once it has.
    let next = '';
    for (let attempt = 0; attempt < 50 && !/^HTTP\/1\.1 200/.test(next); attempt++) {
      next = await raw(port, `GET /fifth HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`);
    }
    expect(next).toMatch(/^HTTP\/1\.1 200/);
    for (const socket of held) socket.destroy();
  });

  test('a client that leaves cancels its upstream request', async () => {
    const upstreamClosed = new Promise<void>((resolve) => {
      handler = () => undefined;
      upstream.once('request', (req: IncomingMessage) => req.socket.once('close', () => resolve()));
    });
    const { port } = await reverse();
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`GET /slow HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const wait = setInterval(() => {
        if (seen.length) {
          clearInterval(wait);
          resolve();
        }
      }, 5);
    });
    socket.destroy();
    await upstreamClosed;
  });

  test('300 slow requests do not queue a fast one behind them', async () => {
    const pending: ServerResponse[] = [];
    handler = (req, res) => {
      if (req.url === '/fast') res.end('fast');
      else pending.push(res);
    };
    const { port } = await reverse();
    const slow = Array.from({ length: 300 }, () => {
      const req = request({ host: '127.0.0.1', port, path: '/slow', agent: false });
      req.on('error', () => undefined);
      req.end();
      return req;
    });
    for (let i = 0; i < 2_000 && pending.length < 300; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(pending).toHaveLength(300);
    const fast = await raw(port, `GET /fast HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`);
    expect(fast).toMatch(/^HTTP\/1\.1 200[\s\S]*fast$/);
    for (const res of pending) res.end();
    for (const req of slow) req.destroy();
  });

  test('an idle tunnel to a passed-through host closes after its own limit', async () => {
    const echo = createTcpServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = await forward({ tunnelIdleTimeoutMs: 300 });
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const authority = `127.0.0.1:${(echo.address() as AddressInfo).port}`;
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
      const [head] = (await once(socket, 'data')) as [Buffer];
      expect(head.toString()).toMatch(/^HTTP\/1\.1 200/);
      socket.write('still here');
      const [back] = (await once(socket, 'data')) as [Buffer];
      expect(back.toString()).toBe('still here');
      // Then nothing either way: the proxy closes it.
      await once(socket, 'close');
    } finally {
      echo.close();
    }
  });
});

describe('10. headers, hints', () => {
  test('request headers up to 64 KiB pass; larger ones get 431 saying why', async () => {
    const { port } = await reverse();
    const cookie = 'c'.repeat(40 * 1024);
    const passed = await raw(port, `GET /big HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncookie: ${cookie}\r\nconnection: close\r\n\r\n`);
    expect(passed).toMatch(/^HTTP\/1\.1 200/);
    expect(seen[0]?.headers['cookie']).toBe(cookie);
    const refused = await raw(port, `GET /bigger HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncookie: ${'c'.repeat(70 * 1024)}\r\n\r\n`);
    expect(refused).toMatch(/^HTTP\/1\.1 431/);
    expect(refused).toContain("the request's headers are over 64 KiB, more than Google's front ends accept");
  });

  test('103 Early Hints from the app reach the client before its answer', async () => {
    handler = (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.end('page');
    };
    const { port } = await reverse();
    const hints: string[] = [];
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/page', agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('information', (info: { statusCode: number; headers: Record<string, string> }) =>
        hints.push(`${info.statusCode} ${info.headers['link'] ?? ''}`),
      );
      req.on('error', reject);
      req.end();
    });
    expect(hints).toEqual(['103 </style.css>; rel=preload; as=style']);
    expect(body).toBe('page');
  });
});

/** An upstream on 127.0.0.1 that answers every connection with `answer` (raw bytes), having read the request's head. */
async function rawUpstream(answer: Buffer | ((socket: Socket) => void)): Promise<{ port: number; close: () => void }> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    if (typeof answer === 'function') return answer(socket);
    socket.once('data', () => socket.end(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe('found by review: answers and set-ups that once broke an exchange, or the proxy', () => {
  test('header bytes outside ASCII pass unchanged; a header Node cannot write is a 502 that says so, not a crash', async () => {
    const cafe = Buffer.from('HTTP/1.1 200 OK\r\nx-name: caf\xc3\xa9\r\ncontent-length: 2\r\n\r\nok', 'latin1');
    const up = await rawUpstream(cafe);
    try {
      const { port } = await reverse({ target: new URL(`http://127.0.0.1:${up.port}`) });
      const answer = await raw(port, `GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`);
      expect(Buffer.from(answer, 'latin1').includes(Buffer.from('x-name: caf\xc3\xa9\r\n', 'latin1'))).toBe(true);
    } finally {
      up.close();
    }
  });

  test('a plain-http site whose answer Node will not pass on gets a 502; the forward proxy lives on', async () => {
    const bad = Buffer.from(
      // A byte that is not UTF-8 in Content-Disposition, which Node's client decodes as UTF-8 and its server refuses.
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Disposition: attachment; filename="caf\xe9.txt"\r\n\r\nok',
      'latin1',
    );
    const up = await rawUpstream(bad);
    try {
      const { port } = await forward();
      const target = `http://127.0.0.1:${up.port}/file`;
      const answer = await raw(port, `GET ${target} HTTP/1.1\r\nhost: 127.0.0.1:${up.port}\r\nconnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(answer).toContain('answered with a header this proxy cannot pass on');
      expect(await raw(port, `GET /.iap-token/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      up.close();
    }
  });

  test('an app that answers before reading the whole upload: the client finishes sending and reads the answer', async () => {
    // The test's upstream reads bodies whole; this one (Node's server) answers at the head, reading nothing.
    const early = createServer((_req, res) => res.writeHead(413, { 'content-type': 'text/plain' }).end('too large'));
    await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
    const up = { close: () => (early.closeAllConnections(), early.close()) };
    try {
      const { port } = await reverse({ target: new URL(`http://127.0.0.1:${(early.address() as AddressInfo).port}`) });
      // Python's socket client, as a simple uploader is: it sends all 50 MB, and only then reads the answer.
      const script = [
        'import socket, sys',
        'port, size = int(sys.argv[1]), 50 * 1024 * 1024',
        's = socket.create_connection(("127.0.0.1", port)); s.settimeout(30)',
        's.sendall(b"POST /upload HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\nContent-Length: %d\\r\\n\\r\\n" % (port, size))',
        'chunk = b"x" * 65536',
        'for _ in range(size // 65536): s.sendall(chunk)',
        'print(s.recv(100).split(b"\\r\\n")[0].decode())',
      ].join('\n');
      const status = await new Promise<string>((resolve) =>
        execFile('python3', ['-c', script, String(port)], { timeout: 50_000 }, (error, stdout, stderr) =>
          resolve(error ? `failed: ${stderr || error.message}` : stdout.trim()),
        ),
      );
      expect(status).toBe('HTTP/1.1 413 Payload Too Large');
    } finally {
      up.close();
    }
  });

  test('an h2c offer pipelined behind a slow request is answered after it, in order', async () => {
    handler = (req, res) => (req.url === '/slow' ? setTimeout(() => res.end('slow'), 200) : res.end(`got ${req.url ?? ''}`));
    const { port } = await reverse();
    const host = `host: 127.0.0.1:${port}\r\n`;
    const answer = await raw(
      port,
      `GET /slow HTTP/1.1\r\n${host}\r\nGET /offer HTTP/1.1\r\n${host}connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /last HTTP/1.1\r\n${host}connection: close\r\n\r\n`,
    );
    const bodies = [...answer.matchAll(/\r\n\r\n(?:[0-9a-f]+\r\n)?(slow|got \/offer|got \/last)/g)].map((m) => m[1]);
    expect(bodies).toEqual(['slow', 'got /offer', 'got /last']);
  });

  test('a WebSocket to a target that accepts and never speaks TLS fails within the response timeout', async () => {
    const silent = await rawUpstream(() => undefined);
    try {
      const { port } = await reverse({ target: new URL(`https://127.0.0.1:${silent.port}`), responseTimeoutMs: 300 });
      const answer = await raw(
        port,
        `GET /ws HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: x\r\nsec-websocket-version: 13\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 50[24]/);
    } finally {
      silent.close();
    }
  });

  test('the forward proxy takes its credential from Proxy-Authorization only (Authorization travels on to sites)', async () => {
    const credential = 'iap-token:s3cret';
    const { port } = await forward({ peers: { onlyUid: undefined, says: 'cannot check' }, credential });
    const basic = `Basic ${Buffer.from(credential).toString('base64')}`;
    const answer = await raw(
      port,
      `CONNECT app.example.com:443 HTTP/1.1\r\nhost: app.example.com:443\r\nauthorization: ${basic}\r\n\r\n`,
      (text) => text.includes('\r\n\r\n'),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 407/);
  });

  test('a closed socket in the table (TIME_WAIT: uid 0, inode 0) is nobody’s, not root’s', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   1: 0100007F:C350 0100007F:1F90 06 00000000:00000000 03:00000EDF 00000000     0        0 0 3 0000000000000000',
    ].join('\n');
    expect(findOwner(table, ['0100007F:C350'], ['0100007F:1F90'])).toBeUndefined();
  });
});
