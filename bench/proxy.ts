// npm run bench (second part): what the authenticating proxy adds per request, side by side in one run with the same
// trivial upstream reached directly and through nginx (the anchor, Debian's nginx-light, adding a static
// Authorization header), with the same load generator (autocannon). Client, proxies and upstream share this
// machine's cores, as they would on a runner. Not a test: it prints figures.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: autocannon ships no types
import autocannonUntyped from 'autocannon';
import { ROOT } from '../test-bed/runner.ts';

const SECONDS = Number(process.env['BENCH_PROXY_SECONDS'] ?? 5);
const MANY = 50;
const RSS_REQUESTS = 100_000;

interface AutocannonResult {
  readonly requests: { readonly average: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly errors: number;
  readonly non2xx: number;
}
const autocannon = autocannonUntyped as (options: Record<string, unknown>) => Promise<AutocannonResult>;

interface Load {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'iap-token-bench-proxy-'));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process and resolves once `ready` matches its output. */
function start(
  command: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) resolve({ child, match });
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.on('exit', (code) => reject(new Error(`${command} exited (${String(code)}):\n${output}`)));
  });
}

async function load(url: string, connections: number, options: { amount?: number } = {}): Promise<Load> {
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    ...(options.amount ? { amount: options.amount } : { duration: SECONDS }),
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

function rssMb(pid: number | undefined): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return kb / 1024;
}

export async function benchProxy(): Promise<string[]> {
  const lines: string[] = [];
  // The upstream: a trivial keep-alive HTTP server in its own process.
  const upstream = await start(
    process.execPath,
    [
      '-e',
      "const s=require('node:http').createServer((q,r)=>r.end('ok'));s.keepAliveTimeout=65000;s.listen(0,'127.0.0.1',()=>console.log('port '+s.address().port))",
    ],
    /port (\d+)/,
  );
  const upstreamUrl = `http://127.0.0.1:${upstream.match[1]}`;

  // iap-token proxy, signing its JWTs locally with a key of its own (no Google involved: no request per token).
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
  const proxy = await start(
    process.execPath,
    // As the action runs its agent: with a bounded young generation (src/agent/launch.ts).
    [
      '--max-semi-space-size=4',
      join(ROOT, 'dist', 'cli.cjs'),
      'proxy',
      '--to',
      upstreamUrl,
      '--token-type',
      'signed_jwt',
      '--credentials-file',
      keyFile,
    ],
    /Proxying (http:\/\/127\.0\.0\.1:\d+) /,
  );
  const proxyUrl = proxy.match[1] ?? '';

  // nginx, when the machine has it: one worker (the proxy is one process), kept-alive upstream connections.
  let nginxUrl: string | undefined;
  const nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (nginx.error) {
    lines.push('(nginx is not installed: no nginx row; `apt-get install nginx-light` adds it)');
  } else {
    const port = await freePort();
    const config = join(dir, 'nginx.conf');
    writeFileSync(
      config,
      `worker_processes 1; daemon off; master_process off; pid ${dir}/nginx.pid; error_log stderr warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream app { server ${upstreamUrl.slice(7)}; keepalive 64; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
    proxy_set_header Authorization "Bearer a-static-token-of-the-same-size-as-a-signed-jwt"; } } }`,
    );
    const child = spawn('nginx', ['-c', config, '-p', dir], { stdio: 'ignore' });
    children.push(child);
    await new Promise((resolve) => setTimeout(resolve, 500));
    nginxUrl = `http://127.0.0.1:${port}`;
  }

  const targets: Array<[string, string]> = [
    ['direct to the upstream', upstreamUrl],
    ...(nginxUrl ? [['nginx 1 worker, static header', nginxUrl] as [string, string]] : []),
    ['iap-token proxy', proxyUrl],
  ];
  const results = new Map<string, { one: Load; many: Load }>();
  for (const [name, url] of targets) {
    await load(url, MANY, { amount: 2_000 }); // warm-up
    results.set(name, { one: await load(url, 1), many: await load(url, MANY) });
  }
  const direct = results.get('direct to the upstream');
  const viaNginx = nginxUrl ? results.get('nginx 1 worker, static header') : undefined;
  lines.push(`Proxy: ${SECONDS} s per row and concurrency, autocannon, keep-alive, trivial upstream; all on this machine.\n`);
  lines.push(
    '| path | req/s, 1 conn | ms per request, 1 conn | added ms per request | p50 / p99 ms, 1 conn | req/s, 50 conns | % of direct | % of nginx | p50 / p99 ms, 50 conns |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, { one, many }] of results) {
    const perRequest = 1000 / one.rps;
    const added = direct ? perRequest - 1000 / direct.one.rps : 0;
    const ofDirect = direct ? (100 * many.rps) / direct.many.rps : 100;
    const ofNginx = viaNginx ? `${((100 * many.rps) / viaNginx.many.rps).toFixed(0)} %` : '—';
    lines.push(
      `| ${name} | ${one.rps.toFixed(0)} | ${perRequest.toFixed(3)} | ${added.toFixed(3)} | ${one.p50} / ${one.p99} | ${many.rps.toFixed(0)} | ${ofDirect.toFixed(0)} % | ${ofNginx} | ${many.p50} / ${many.p99} |`,
    );
    if (one.errors || many.errors) lines.push(`(${name}: ${one.errors + many.errors} errors or non-2xx answers)`);
  }

  // Memory over 100,000 requests: the proxy holds nothing per request.
  const before = rssMb(proxy.child.pid);
  await load(proxyUrl, MANY, { amount: RSS_REQUESTS });
  const after = rssMb(proxy.child.pid);
  await load(proxyUrl, MANY, { amount: RSS_REQUESTS });
  const again = rssMb(proxy.child.pid);
  lines.push(
    `\nProxy RSS: ${before.toFixed(1)} MB after the runs above, ${after.toFixed(1)} MB after ${RSS_REQUESTS.toLocaleString('en')} more requests, ${again.toFixed(1)} MB after ${RSS_REQUESTS.toLocaleString('en')} more.`,
  );
  for (const child of children) child.kill('SIGTERM');
  return lines;
}
