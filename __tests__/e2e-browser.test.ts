import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { chromium } from 'playwright-core';
import { TestProxy } from '../test-bed/proxy.ts';
import { ROOT } from '../test-bed/runner.ts';
import { DEPLOYER, startCli, useWorld } from './e2e-helpers.ts';

/**
 * A real browser through IAP: headless Chromium from the machine's Debian packages, through `iap-token proxy
 * --forward`, loads a page of the fake IAP app; the page fetches from a second origin without IAP, which must receive
 * no token. The app's hosts are *.fake-google.test names that only the test's egress proxy (https_proxy) reaches, as
 * behind a corporate proxy; the browser trusts the forward proxy's certificates by their key (SPKI).
 */

const CHROMIUM = '/usr/bin/chromium';
const CA = join(ROOT, 'test-bed', 'tls', 'ca.pem');
const available = existsSync(CHROMIUM);
if (!available) {
  console.warn(
    '\n\n*** BROWSER TESTS SKIPPED: /usr/bin/chromium is missing and could not be installed (npm test installs the Debian package chromium where it can: see scripts/ensure-chromium.mjs). ***\n\n',
  );
}
const maybe = available ? describe : describe.skip;

const world = useWorld();
let egress: TestProxy;
let dir: string;
let proxy: { child: ChildProcess; url: string; ca: string; spki: string };
const APP = 'https://app.fake-google.test';
const PAGE = `${APP}/app/page?second=${encodeURIComponent('https://static.fake-google.test/public/data.json')}`;

/** base64 SHA-256 of a certificate's key: what Chromium's --ignore-certificate-errors-spki-list takes. */
function spkiOf(pem: string): string {
  return createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

/** The flags the machine's notes say a headless Chromium needs here, with a fresh profile. */
function chromiumFlags(profile: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    '--window-size=900,400',
    '--hide-scrollbars',
    // The forward proxy's certificates (one key for all), and the test CA's for the origin it only tunnels to.
    `--ignore-certificate-errors-spki-list=${proxy.spki},${spkiOf(readFileSync(join(ROOT, 'test-bed', 'tls', 'server.pem'), 'utf8'))}`,
  ];
}

beforeAll(async () => {
  if (!available) return;
  egress = await new TestProxy(() => world.fake.httpsPort).start();
  dir = mkdtempSync(join(tmpdir(), 'iap-token-browser-'));
  writeFileSync(join(dir, 'key.json'), JSON.stringify(world.deployerKey));
  const cli = startCli(
    world,
    ['proxy', '--forward', '--host', 'app.fake-google.test', '--audience', world.audience, '--credentials-file', join(dir, 'key.json')],
    { home: dir, env: { https_proxy: egress.url, NODE_EXTRA_CA_CERTS: CA } },
  );
  const [, url = '', ca = '', spki = ''] = await cli.waitFor(
    /^Forward proxy (http:\/\/127\.0\.0\.1:\d+) \(CA: (\S+)\)\nChromium: .*spki-list=(\S+)$/m,
  );
  proxy = { child: cli.child, url, ca, spki };
});

afterAll(async () => {
  if (!available) return;
  proxy.child.kill('SIGTERM');
  await egress.stop();
  rmSync(dir, { recursive: true, force: true });
});

maybe('a browser through the forward proxy', () => {
  test('Chromium loads the app through IAP; the second origin gets no token; the screenshot shows the app', async () => {
    // Not spawnSync: the fake Google and the egress proxy answer from this very process.
    const run = (args: string[]) =>
      new Promise<string>((resolve) => {
        const profile = join(dir, `profile-${args[0]?.slice(2, 8) ?? ''}-${Date.now()}`);
        const child = spawn(CHROMIUM, [...chromiumFlags(profile), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
        child.on('close', () => {
          clearTimeout(timer);
          resolve(stdout);
        });
      });
    const dom = await run(['--dump-dom', `--proxy-server=${proxy.url}`, '--virtual-time-budget=5000', PAGE]);
    expect(dom).toContain('<h1 id="hello">Hello through IAP</h1>');
    expect(dom).toContain(`Signed in as ${DEPLOYER}`);
    expect(dom).toContain('Second origin answered: /public/data.json');
    expect(world.fake.publicRequests.length).toBeGreaterThan(0);
    expect(world.fake.publicRequests.every((r) => r.authorization === null && r.proxyAuthorization === null)).toBe(true);
    expect(world.fake.appRequests.map((r) => r.path)).toContain('/app/page');
    // The browser never saw a token: only the proxy's leg to IAP carried one.
    for (const secret of world.fake.secrets) expect(dom).not.toContain(secret);

    const shot = join(dir, 'through-iap.png');
    await run([`--screenshot=${shot}`, `--proxy-server=${proxy.url}`, '--virtual-time-budget=5000', PAGE]);
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    // The same page as the app would render it, served straight: the same pixels mean the same text on screen.
    const expected = join(dir, 'expected.png');
    const server = await serveExpectedPage();
    const { port } = server.address() as AddressInfo;
    await run([`--screenshot=${expected}`, '--virtual-time-budget=5000', `http://127.0.0.1:${port}/`]);
    await new Promise((resolve) => server.close(resolve));
    expect(readFileSync(shot).equals(readFileSync(expected))).toBe(true);
  });

  test('Playwright (playwright-core) drives the same Chromium with the documented recipe', async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: chromiumFlags(join(dir, 'playwright')).filter((flag) => !/^--(headless|user-data-dir|window-size)/.test(flag)),
      proxy: { server: proxy.url },
    });
    try {
      const page = await browser.newPage();
      await page.goto(PAGE);
      await page.waitForFunction("document.getElementById('second')?.textContent?.startsWith('Second origin answered')");
      expect(await page.textContent('#hello')).toBe('Hello through IAP');
      expect(await page.textContent('#who')).toBe(`Signed in as ${DEPLOYER}`);
      const png = await page.screenshot();
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      await browser.close();
    }
    expect(world.fake.publicRequests.every((r) => r.authorization === null && r.proxyAuthorization === null)).toBe(true);
  });

  test('plain http to a named host is refused; a redirect reaches the browser unfollowed; the CA can sign for the named hosts only', async () => {
    const plain = await new Promise<{ status: number; body: string }>((resolve) => {
      const url = new URL(proxy.url);
      request(
        { host: url.hostname, port: url.port, path: 'http://app.fake-google.test/app/x', headers: { host: 'app.fake-google.test' } },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      ).end();
    });
    expect(plain.status).toBe(403);
    expect(plain.body).toContain('the token never travels in clear text');

    // Through CONNECT and TLS as a browser would, trusting the run's CA (name constraints included) and nothing else.
    const answer = await viaForwardProxy('/app/redirect', readFileSync(proxy.ca, 'utf8'));
    expect(answer).toMatch(/^HTTP\/1\.1 302/);
    expect(answer).toContain('location: https://login.example.com/start?next=/app');
    const ca = new X509Certificate(readFileSync(proxy.ca, 'utf8'));
    expect(ca.ca).toBe(true);
    expect(ca.toLegacyObject().subject).toMatchObject({ CN: expect.stringMatching(/^iap-token proxy CA/) });
  });
});

/** GET `path` on app.fake-google.test through the forward proxy, trusting `ca`; the raw answer's head. */
function viaForwardProxy(path: string, ca: string): Promise<string> {
  const url = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const connectRequest = request({ host: url.hostname, port: url.port, method: 'CONNECT', path: 'app.fake-google.test:443' });
    connectRequest.on('connect', (_res, socket) => {
      const tls = tlsConnect({ socket, servername: 'app.fake-google.test', ca }, () => {
        tls.write(`GET ${path} HTTP/1.1\r\nhost: app.fake-google.test\r\nconnection: close\r\n\r\n`);
      });
      let text = '';
      tls.on('data', (chunk: Buffer) => (text += chunk.toString()));
      tls.on('end', () => resolve(text));
      tls.on('error', reject);
    });
    connectRequest.on('error', reject);
    connectRequest.end();
  });
}

/** The page the app serves, with the second origin's answer already in place: what the screenshot must show. */
function serveExpectedPage(): Promise<Server> {
  const html = `<!doctype html><html><head><title>App behind IAP</title></head><body style="font: 32px sans-serif"><h1 id="hello">Hello through IAP</h1><p id="who">Signed in as ${DEPLOYER}</p><p id="second">Second origin answered: /public/data.json</p></body></html>`;
  return new Promise((resolve) => {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
