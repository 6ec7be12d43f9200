import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { request } from 'node:http';
import { startReverseProxy, type RunningProxy } from '../src/http/reverse-proxy.ts';
import { HostileUpstream, OK_BODY, hostileExchange, type Plan } from '../test-bed/hostile-upstream.ts';
import { isIapRefusal } from '../src/iap/answers.ts';

/**
 * The forwarder against an upstream that breaks the exchange at every stage: before its answer's head, inside it,
 * after it, mid-body, while the client is still uploading, with and without 100-continue, by FIN or RST. Whatever
 * happens to one exchange, the client is told (a 502 when nothing was sent, else a closed connection, never a
 * whole-looking answer that is not), nothing escapes as an uncaught exception, and the next request is served.
 */

let upstream: HostileUpstream;
let proxy: RunningProxy;
const uncaught: unknown[] = [];
const record = (error: unknown) => uncaught.push(error);
const HEAD = `HTTP/1.1 200 OK\r\ncontent-length: 4000\r\ncontent-type: text/plain\r\n\r\n`;

beforeAll(async () => {
  process.on('uncaughtException', record);
  upstream = await new HostileUpstream().start();
  proxy = await startReverseProxy({
    target: new URL(`http://127.0.0.1:${upstream.port}`),
    header: 'authorization',
    token: async () => 'tok',
    isRefusal: isIapRefusal,
    onIapRefusal: async () => ({ explanation: 'refused', retry: false }),
    health: () => ({ ok: true, body: { ok: true } }),
    listen: { host: '127.0.0.1', port: 0 },
    log: () => undefined,
  });
});
afterEach(() => upstream.ok());
afterAll(async () => {
  process.off('uncaughtException', record);
  await proxy.close();
  await upstream.stop();
});

/** A plain GET through the proxy: the proof that it still serves. */
function healthyRequest(): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.port, path: '/after', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const host = () => `127.0.0.1:${proxy.port}`;

/** What the client may see when the upstream cut its answer at `cut`. */
function expectTold(answer: string, ended: string, plan: Plan): void {
  const finals = answer.replace(/^(HTTP\/1\.1 100 Continue\r\n\r\n)+/, '');
  if (plan.cut === 'all' || plan.cut >= HEAD.length + plan.bodyBytes) {
    // All of it was sent before the connection ended: all of it arrives.
    expect(finals).toMatch(/^HTTP\/1\.1 200/);
    expect(finals.length - finals.indexOf('\r\n\r\n') - 4).toBe(plan.bodyBytes);
    return;
  }
  if (plan.cut < HEAD.length) {
    // Nothing of the app's answer reached us whole: the proxy says so, and why.
    expect(finals).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(finals).toContain('iap-token proxy: ');
    return;
  }
  // A reset may take with it bytes the proxy had not read yet, the head included: then nothing reached it, and it
  // says so, as above.
  if (plan.close === 'reset' && ended === 'open') {
    expect(finals).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    return;
  }
  // The head went on; the body was cut: the client sees the connection end short of the length announced.
  expect(['closed', 'reset']).toContain(ended);
  if (finals) expect(finals).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  const end = finals.indexOf('\r\n\r\n');
  if (end !== -1) expect(finals.length - end - 4).toBeLessThan(4000);
}

test('named stages: each broken exchange is told, and the proxy serves the next request', async () => {
  const stages: Array<Partial<Plan>> = [
    { cut: 0 }, // closed before the head, the request read
    { cut: 10 }, // inside the status line
    { cut: HEAD.length - 2 }, // inside the head
    { cut: HEAD.length }, // after the head, no body
    { cut: HEAD.length + 1000 }, // mid-body
    { cut: 0, afterUpload: 1 }, // closed while the client is still uploading, nothing answered
    { cut: HEAD.length, afterUpload: 1 }, // the head, then closed while the client is still uploading (issue 21.1)
    { cut: HEAD.length + 10, afterUpload: 1, close: 'reset' },
    { cut: 0, close: 'reset' },
    { cut: HEAD.length, continueFirst: true, afterUpload: 1 },
  ];
  for (const stage of stages) {
    for (const waitForContinue of [false, true]) {
      const plan: Plan = { afterUpload: 0, cut: 'all', close: 'end', bodyBytes: 4000, ...stage };
      upstream.plan = plan;
      const { answer, ended } = await hostileExchange(proxy.port, { uploadBytes: 200_000, chunk: 1000, waitForContinue, host: host() });
      if (!plan.continueFirst) expectTold(answer, ended, plan);
      upstream.ok();
      expect(await healthyRequest()).toEqual({ status: 200, body: OK_BODY });
    }
  }
  expect(uncaught).toEqual([]);
});

test('random stages (fast-check): never an uncaught exception, always a next request served', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        cut: fc.oneof(fc.nat({ max: HEAD.length + 4100 }), fc.constant<'all'>('all')),
        afterUpload: fc.nat({ max: 20_000 }),
        close: fc.constantFrom<'end' | 'reset'>('end', 'reset'),
        continueFirst: fc.boolean(),
        waitForContinue: fc.boolean(),
        uploadBytes: fc.integer({ min: 20_000, max: 120_000 }),
        chunk: fc.integer({ min: 100, max: 16_000 }),
      }),
      async ({ waitForContinue, uploadBytes, chunk, ...plan }) => {
        upstream.plan = { ...plan, bodyBytes: 4000 };
        const { answer, ended } = await hostileExchange(proxy.port, { uploadBytes, chunk, waitForContinue, host: host() });
        if (!plan.continueFirst) expectTold(answer, ended, { ...plan, bodyBytes: 4000 });
        upstream.ok();
        expect(await healthyRequest()).toEqual({ status: 200, body: OK_BODY });
      },
    ),
    { numRuns: 60 },
  );
  expect(uncaught).toEqual([]);
});
