import { afterAll, afterEach, beforeAll, beforeEach, expect } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { World } from '../test-bed/world.ts';
import { findLeaks, parseFileCommand, runAction, UNDER_TEST, unmasked, type ActionRun, type RunOptions } from '../test-bed/runner.ts';

import { startWorld } from '../test-bed/world.ts';
export { DEPLOYER, INVOKER, PROJECT_NUMBER, PROVIDER, RELAY, REPO_MEMBER, startWorld, type World } from '../test-bed/world.ts';

/**
 * One world for a test file: started before its tests (then `setup` runs, and the fake takes the result as its
 * baseline), stopped after them, and returned to that baseline before each test: whatever a test changed (accounts,
 * grants, claims, users, the clock, requests, faults) is undone. The object is filled in when the world starts.
 */
export function useWorld(setup: (world: World) => void | Promise<void> = () => undefined): World {
  const world = {} as World;
  beforeAll(async () => {
    Object.assign(world, await startWorld());
    await setup(world);
    world.fake.markBaseline();
  });
  afterAll(async () => world.fake.stop());
  beforeEach(() => world.fake.reset());
  return world;
}

export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
export const TOKEN_CREATOR = 'roles/iam.serviceAccountTokenCreator';

export interface E2eRun extends ActionRun {
  /** The secrets this run was given or was handed by the fake: each must have been masked. */
  readonly received: readonly string[];
}

/** Runs the bundled action against the fake and checks, on every run, that nothing secret is visible. */
export async function run(world: World, inputs: Record<string, string>, options: RunOptions = {}): Promise<E2eRun> {
  const { leaks, ...result } = await runUnchecked(world, inputs, options);
  expect(leaks).toEqual([]);
  expect(result.stderr).toBe('');
  return result;
}

/**
 * run() without its checks: the run, with `leaks`, where every secret the fake knows (and the key the run was given)
 * shows, which run() requires to be empty. For the leak audit, which counts leaks before it asserts.
 */
export async function runUnchecked(
  world: World,
  inputs: Record<string, string>,
  options: RunOptions = {},
): Promise<E2eRun & { readonly leaks: readonly string[] }> {
  const before = new Set(world.fake.secrets);
  const env = { ...world.fake.env(), ...options.env };
  const result = await runAction(inputs, { ...options, env });
  const received = [...world.fake.secrets].filter((secret) => !before.has(secret));
  const key = parseKey(inputs['credentials_json']);
  // Every key the credentials carry, nested ones (impersonated_service_account's source) included.
  const keys = (value: unknown): string[] =>
    value && typeof value === 'object'
      ? Object.entries(value).flatMap(([field, inner]) => (field === 'private_key' && typeof inner === 'string' ? [inner] : keys(inner)))
      : [];
  received.push(...keys(key));
  if (inputs['workload_identity_provider'] && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) received.push(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
  const secrets = [...world.fake.secrets, inputs['credentials_json'] ?? ''].filter(Boolean);
  return { ...result, received, leaks: findLeaks(result, secrets, inputs['export_variable'] ?? 'IAP_TOKEN') };
}

function parseKey(raw: string | undefined): Record<string, unknown> | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw.trim().startsWith('{') ? raw : Buffer.from(raw, 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Every credential the fake handed this run, and the key the run was given, was registered as a mask. */
export function expectAllMasked(result: E2eRun): void {
  expect(result.received.length).toBeGreaterThan(0);
  expect(unmasked(result, result.received)).toEqual([]);
}

export function expectSuccess(result: ActionRun): void {
  expect({ exitCode: result.exitCode, errors: result.errors }).toEqual({ exitCode: 0, errors: [] });
}

/** A failed step: exit 1, one error, and no output or variable left behind. */
export function expectFailure(result: ActionRun): string {
  expect(result.exitCode).toBe(1);
  expect(result.errors).toHaveLength(1);
  expect(result.outputs).toEqual({});
  expect(result.exportedEnv).toEqual({});
  return result.errors[0] ?? '';
}

/** Calls the fake IAP app with the token, as the job's next step would. */
export async function callApp(world: World, token: string): Promise<{ status: number; body: string; iap: boolean }> {
  const response = await fetch(`${world.fake.appUrl}/healthz`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
  return { status: response.status, body: await response.text(), iap: response.headers.get('x-goog-iap-generated-response') === 'true' };
}

export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

export interface CliWorkspace {
  /** A folder of the test file's own (HOME for the CLI), removed after its tests. */
  dir: string;
  /** The deployer's key, in that folder. */
  keyPath: string;
  /** Processes a test started: killed after each test. */
  readonly running: ChildProcess[];
}

/** For tests that run the CLI bundle: a folder with the world's deployer key, and the children killed after each test. */
export function useCliWorkspace(world: World, prefix: string): CliWorkspace {
  const workspace: CliWorkspace = { dir: '', keyPath: '', running: [] };
  beforeAll(() => {
    workspace.dir = mkdtempSync(join(tmpdir(), prefix));
    workspace.keyPath = join(workspace.dir, 'key.json');
    writeFileSync(workspace.keyPath, JSON.stringify(world.deployerKey));
  });
  afterAll(() => rmSync(workspace.dir, { recursive: true, force: true }));
  afterEach(() => {
    for (const child of workspace.running.splice(0)) child.kill('SIGKILL');
  });
  return workspace;
}

/** What the action's step left in GITHUB_STATE of its agent. */
export function agentState(main: ActionRun): { pid: number; tokenFile: string } {
  return JSON.parse(parseFileCommand(main.state)['agent'] ?? '{}') as { pid: number; tokenFile: string };
}

/** Running, and not a zombie waiting for a parent (the step that started it is gone) to reap it. */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A loopback port nothing listens on (one was just bound there, and closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The CLI under test: the bundle of the current src/ that the global set-up built. */
export const CLI = join(UNDER_TEST, 'dist', 'cli.cjs');

export interface CliEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface Cli {
  readonly child: ChildProcess;
  /** What the CLI has written to standard output, and to standard error, so far. */
  stdout(): string;
  stderr(): string;
  /**
   * Resolves with the first match of `pattern` in what the CLI wrote to `stream` (standard error unless told), so far
   * or to come. Rejects, saying what it waited for and what came, when the CLI ends first or `withinMs` passes.
   */
  waitFor(pattern: RegExp, options?: { stream?: 'stdout' | 'stderr'; withinMs?: number }): Promise<RegExpExecArray>;
  /** The CLI's end, once it has exited and closed both streams. */
  readonly done: Promise<CliEnd>;
}

export interface CliOptions {
  /** HOME: a folder of the test's own, so that no credentials of this machine (gcloud's, a login's) are picked up. */
  readonly home: string;
  /** Over the fake's endpoints, which are all the environment has besides PATH and HOME. */
  readonly env?: Record<string, string> | undefined;
  /** Runs it as another user. */
  readonly uid?: number | undefined;
  /** Another build's cli.cjs (the packed package's). */
  readonly cli?: string | undefined;
  /** Node's own options, before the script (--max-old-space-size=…). */
  readonly nodeArgs?: readonly string[] | undefined;
  /** Where the child is recorded for the caller to kill after its test (a CliWorkspace's `running`). */
  readonly running?: ChildProcess[] | undefined;
  /** Killed (SIGKILL) after this long: a CLI that hangs ends its test with what it wrote, not at the test's timeout. */
  readonly killAfterMs?: number | undefined;
}

/** Starts the CLI under test as a person runs it: `iap-token ARGS`, with only the fake's endpoints in its environment. */
export function startCli(world: World, args: readonly string[], options: CliOptions): Cli {
  const started = Date.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.cli ?? CLI, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: options.home, ...world.fake.env(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  options.running?.push(child);
  const text = { stdout: '', stderr: '' };
  /** Called on every chunk, and at the end: the waits still waiting. */
  const waiting = new Set<() => void>();
  const notify = () => {
    for (const check of [...waiting]) check();
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].on('data', (chunk: Buffer) => {
      text[stream] += chunk.toString();
      notify();
    });
  }
  const killer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  let end: CliEnd | undefined;
  const done = new Promise<CliEnd>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      end = { code, signal, ...text, ms: Date.now() - started };
      resolve(end);
      notify();
    }),
  );
  const waitFor: Cli['waitFor'] = (pattern, { stream = 'stderr', withinMs = 30_000 } = {}) =>
    new Promise((resolve, reject) => {
      const once = new RegExp(pattern.source, pattern.flags.replace('g', ''));
      const fail = (why: string) => {
        finish();
        reject(new Error(`${why} before its ${stream} showed ${String(pattern)}; it wrote:\n${text[stream]}`));
      };
      const check = () => {
        const match = once.exec(text[stream]);
        if (match) {
          finish();
          resolve(match);
        } else if (end) {
          fail(`the CLI (${args.join(' ')}) ended (${String(end.code ?? end.signal)})`);
        }
      };
      const timer = setTimeout(() => fail(`${withinMs} ms passed`), withinMs);
      const finish = () => {
        clearTimeout(timer);
        waiting.delete(check);
      };
      waiting.add(check);
      check();
    });
  return { child, stdout: () => text.stdout, stderr: () => text.stderr, waitFor, done };
}

export interface CliProxy extends Cli {
  readonly url: string;
  /** Its exit code, once it has ended. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `iap-token proxy ARGS` from the bundle under test, as a person does (HOME the workspace's folder, the fake's
 * endpoints), and resolves once it says where it listens; `uid` runs it as another user. It is killed after the test.
 */
export async function startCliProxy(
  world: World,
  workspace: CliWorkspace,
  args: string[],
  options: Omit<CliOptions, 'home' | 'running'> & { home?: string } = {},
): Promise<CliProxy> {
  const cli = startCli(world, ['proxy', ...args], { ...options, home: options.home ?? workspace.dir, running: workspace.running });
  const [, url = ''] = await cli.waitFor(/^(?:Proxying|Forward proxy) (http:\/\/127\.0\.0\.1:\d+)/m);
  return { ...cli, url, exited: cli.done.then((end) => end.code) };
}
