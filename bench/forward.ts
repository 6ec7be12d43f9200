// npm run bench (third part): the forward proxy for browsers. What a new intercepted host costs (a leaf certificate
// and a TLS handshake with the browser), and what each request adds, beside the same requests through a plain tunnel
// to the same HTTPS upstream. The upstream's name is reached through an egress proxy (test-bed/proxy.ts), on both
// sides alike, so that no name needs to resolve on this machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { TestProxy } from '../test-bed/proxy.ts';
import { ROOT } from '../test-bed/runner.ts';

const HOSTS = 50;
const REQUESTS = 2_000;
const tls = (name: string) => readFileSync(join(ROOT, 'test-bed', 'tls', name), 'utf8');

/** A TLS connection to `host:443` through an HTTP proxy's CONNECT, trusting `ca`. */
function tunnelTls(proxyUrl: string, host: string, ca: string): Promise<TLSSocket> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const connectRequest = request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: `${host}:443` });
    connectRequest.on('connect', (_res, socket) => {
      const secure = tlsConnect({ socket, servername: host, ca, ALPNProtocols: ['http/1.1'] }, () => resolve(secure));
      secure.on('error', reject);
    });
    connectRequest.on('error', reject);
    connectRequest.end();
  });
}

/** `count` sequential GETs on one kept-alive connection; milliseconds in all. */
async function sequentialGets(socket: TLSSocket, host: string, count: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve) => {
      let text = '';
      const onData = (chunk: Buffer) => {
        text += chunk.toString();
        if (text.endsWith('\r\n\r\nok')) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
      socket.write(`GET /x HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
    });
  }
  return performance.now() - started;
}

async function handshakes(proxyUrl: string, hosts: (i: number) => string, ca: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < HOSTS; i++) (await tunnelTls(proxyUrl, hosts(i), ca)).destroy();
  return (performance.now() - started) / HOSTS;
}

export async function benchForwardProxy(): Promise<string[]> {
  const upstream = createServer({ key: tls('server-key.pem'), cert: tls('server.pem') }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
  const egress = await new TestProxy(() => (upstream.address() as AddressInfo).port).start();
  const dir = mkdtempSync(join(tmpdir(), 'iap-token-bench-forward-'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'key.json');
  writeFileSync(
    keyFile,
    JSON.stringify({
      type: 'service_account',
      client_email: 'bench@bench.iam.gserviceaccount.com',
      private_key_id: 'bench',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    }),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--max-semi-space-size=4',
      join(ROOT, 'dist', 'cli.cjs'),
      'proxy',
      '--forward',
      '--host',
      '*.fake-google.test',
      '--token-type',
      'signed_jwt',
      '--audience',
      'https://app.fake-google.test/*',
      '--credentials-file',
      keyFile,
    ],
    {
      env: { ...process.env, https_proxy: egress.url, NODE_EXTRA_CA_CERTS: join(ROOT, 'test-bed', 'tls', 'ca.pem') },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const { url, ca } = await new Promise<{ url: string; ca: string }>((resolve, reject) => {
    let stderr = '';
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString();
      const ready = /^Forward proxy (\S+) \(CA: (\S+)\)$/m.exec(stderr);
      if (!ready) return;
      child.stderr?.off('data', onData);
      resolve({ url: ready[1] ?? '', ca: readFileSync(ready[2] ?? '', 'utf8') });
    };
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`the forward proxy exited (${String(code)}): ${stderr}`)));
  });

  // Warm-ups, then: a tunnel's handshake with the upstream itself, the proxy's with a new host, with a known host.
  (await tunnelTls(egress.url, 'app.fake-google.test', tls('ca.pem'))).destroy();
  (await tunnelTls(url, 'warm.fake-google.test', ca)).destroy();
  const tunnelled = await handshakes(egress.url, (i) => `t${i}.fake-google.test`, tls('ca.pem'));
  const fresh = await handshakes(url, (i) => `h${i}.fake-google.test`, ca);
  const known = await handshakes(url, (i) => `h${i}.fake-google.test`, ca);

  const direct = await tunnelTls(egress.url, 'app.fake-google.test', tls('ca.pem'));
  await sequentialGets(direct, 'app.fake-google.test', 200);
  const directMs = await sequentialGets(direct, 'app.fake-google.test', REQUESTS);
  direct.destroy();
  const proxied = await tunnelTls(url, 'app.fake-google.test', ca);
  await sequentialGets(proxied, 'app.fake-google.test', 200);
  const proxiedMs = await sequentialGets(proxied, 'app.fake-google.test', REQUESTS);
  proxied.destroy();

  child.kill('SIGTERM');
  await egress.stop();
  upstream.close();
  return [
    `\nForward proxy (for browsers): ${HOSTS} handshakes per row, ${REQUESTS.toLocaleString('en')} sequential requests on one kept-alive connection.\n`,
    '| | ms |',
    '|---|---:|',
    `| TLS handshake with the upstream itself, through a plain tunnel | ${tunnelled.toFixed(2)} |`,
    `| TLS handshake with the proxy, a host seen before | ${known.toFixed(2)} |`,
    `| TLS handshake with the proxy, a new host (its certificate signed first) | ${fresh.toFixed(2)} |`,
    `| per request through a plain tunnel | ${(directMs / REQUESTS).toFixed(3)} |`,
    `| per request through the forward proxy, with the token | ${(proxiedMs / REQUESTS).toFixed(3)} |`,
    `| added per request | ${((proxiedMs - directMs) / REQUESTS).toFixed(3)} |`,
  ];
}
