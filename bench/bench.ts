// npm run bench: start-up and round trips of the bundled action, measured against an empty Node process.
// Not a test: it prints figures. Each flow runs as a whole process against the fake Google, alternating with an
// empty Node process, RUNS times after WARMUP runs; the table shows medians.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INVOKER, PROVIDER, REPO_MEMBER, startWorld } from '../test-bed/world.ts';
import { readActionYaml, ROOT } from '../test-bed/runner.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 20);
const WARMUP = 3;
const PRELOAD = join(ROOT, 'bench', 'rusage.cjs');

interface Sample {
  wallMs: number;
  cpuMs: number;
  rssMb: number;
  exitCode: number | null;
}

async function measure(script: string, env: Record<string, string>): Promise<Sample> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--require', PRELOAD, script], { env, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  let report = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => (report += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const { cpuUs, maxRssKb } = JSON.parse(report) as { cpuUs: number; maxRssKb: number };
  return { wallMs, cpuMs: cpuUs / 1000, rssMb: maxRssKb / 1024, exitCode };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const { fake, deployerKey: keyFile } = await startWorld();
const dir = mkdtempSync(join(tmpdir(), 'iap-token-bench-'));
// The action is CommonJS; so is the baseline, so that neither pays for an ES module loader the other does not.
const empty = join(dir, 'empty.cjs');
writeFileSync(empty, '');
fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');

fake.metadata.serviceAccount = INVOKER;
const user = fake.addUser('alice@example.com');

function actionEnv(inputs: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  const files = Object.fromEntries(
    ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY'].map((name) => {
      const path = join(dir, name);
      writeFileSync(path, '');
      return [name, path];
    }),
  );
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    GITHUB_REPOSITORY: 'octo-org/deploy-app',
    ...files,
    ...fake.env(),
  };
  for (const [name, spec] of Object.entries(readActionYaml().inputs))
    env[`INPUT_${name.toUpperCase()}`] = inputs[name] ?? spec.default ?? '';
  return { ...env, ...extra };
}

function httpsEnv(): Record<string, string> {
  return { ...fake.env(() => `https://127.0.0.1:${fake.httpsPort}`), NODE_EXTRA_CA_CERTS: join(ROOT, 'test-bed', 'tls', 'ca.pem') };
}

const flows: Array<{ name: string; inputs: Record<string, string>; env?: Record<string, string>; before?: () => void }> = [
  { name: 'key → ID token', inputs: { audience: fake.iap.clientId, credentials_json: JSON.stringify(keyFile) } },
  {
    name: 'key → signed JWT (local)',
    inputs: { audience: 'https://app.example.com/*', token_type: 'signed_jwt', credentials_json: JSON.stringify(keyFile) },
  },
  { name: 'WIF → ID token', inputs: { audience: fake.iap.clientId, workload_identity_provider: PROVIDER, service_account: INVOKER } },
  { name: 'metadata → ID token', inputs: { audience: fake.iap.clientId }, env: { GCE_METADATA_HOST: fake.metadataHost } },
  {
    name: 'key → ID token + 8 smoke URLs',
    inputs: {
      audience: fake.iap.clientId,
      credentials_json: JSON.stringify(keyFile),
      smoke_test_urls: Array.from({ length: 8 }, (_, i) => `${fake.appUrl}/page/${i}`).join('\n'),
    },
    // Each page takes 100 ms: side by side, the eight add about 100 ms of wall time, not 800.
    before: () => fake.inject('iap', ...Array.from({ length: 8 }, () => ({ delayMs: 100 }))),
  },
  // Over HTTPS, as against Google: TLS is loaded and every request does a handshake (the fake's CA comes from
  // NODE_EXTRA_CA_CERTS, which Node reads at start-up; a runner talking to Google does not need it).
  { name: 'key → ID token, HTTPS', inputs: { audience: fake.iap.clientId, credentials_json: JSON.stringify(keyFile) }, env: httpsEnv() },
  {
    name: 'WIF → ID token, HTTPS',
    inputs: { audience: fake.iap.clientId, workload_identity_provider: PROVIDER, service_account: INVOKER },
    env: httpsEnv(),
  },
  {
    name: 'refresh token → ID token',
    inputs: {
      audience: fake.iap.clientId,
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    },
  },
  { name: 'key → access token', inputs: { token_type: 'access_token', credentials_json: JSON.stringify(keyFile) } },
  {
    name: 'refresh token → access token',
    inputs: {
      token_type: 'access_token',
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    },
  },
];
const main = join(ROOT, readActionYaml().runs.main);

const rows: string[] = [];
const baseline: Sample[] = [];
const results = new Map<string, { samples: Sample[]; requests: number; parallel: number }>();
for (const flow of flows) results.set(flow.name, { samples: [], requests: 0, parallel: 0 });
for (let i = 0; i < WARMUP + RUNS; i++) {
  const base = await measure(empty, { PATH: process.env['PATH'] ?? '' });
  if (i >= WARMUP) baseline.push(base);
  for (const flow of flows) {
    const before = fake.count();
    fake.maxInFlight.clear();
    fake.faults.clear();
    flow.before?.();
    const sample = await measure(main, actionEnv(flow.inputs, flow.env));
    if (sample.exitCode !== 0) throw new Error(`${flow.name} failed (exit ${sample.exitCode})`);
    const entry = results.get(flow.name)!;
    entry.requests = fake.count() - before;
    entry.parallel = Math.max(0, ...fake.maxInFlight.values());
    if (i >= WARMUP) entry.samples.push(sample);
  }
}
await fake.stop();

const base = {
  wall: median(baseline.map((s) => s.wallMs)),
  cpu: median(baseline.map((s) => s.cpuMs)),
  rss: median(baseline.map((s) => s.rssMb)),
};
rows.push('| process | wall ms | CPU ms | peak RSS MB | CPU × empty | RSS − empty MB | requests | most at once |');
rows.push('|---|---:|---:|---:|---:|---:|---:|---:|');
rows.push(
  `| empty Node ${process.version} | ${base.wall.toFixed(1)} | ${base.cpu.toFixed(1)} | ${base.rss.toFixed(1)} | 1.00 | 0.0 | 0 | 0 |`,
);
for (const [name, { samples, requests, parallel }] of results) {
  const wall = median(samples.map((s) => s.wallMs));
  const cpu = median(samples.map((s) => s.cpuMs));
  const rss = median(samples.map((s) => s.rssMb));
  rows.push(
    `| ${name} | ${wall.toFixed(1)} | ${cpu.toFixed(1)} | ${rss.toFixed(1)} | ${(cpu / base.cpu).toFixed(2)} | ${(rss - base.rss).toFixed(1)} | ${requests} | ${parallel} |`,
  );
}
const distFiles = readdirSync(join(ROOT, 'dist'), { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.cjs'))
  .map((entry) => `${entry.name} ${statSync(join(entry.parentPath, entry.name)).size} bytes`);
console.log(`Medians of ${RUNS} runs after ${WARMUP} warm-ups, alternating with an empty Node process.\n`);
console.log(rows.join('\n'));
console.log(`\ndist/: ${distFiles.join(', ')} (the action starts from index.cjs alone)`);

if (process.env['BENCH_PROXY'] !== '0') {
  const { benchProxy } = await import('./proxy.ts');
  console.log(`\n${(await benchProxy()).join('\n')}`);
}

if (process.env['BENCH_FORWARD'] !== '0') {
  const { benchForwardProxy } = await import('./forward.ts');
  console.log((await benchForwardProxy()).join('\n'));
}
