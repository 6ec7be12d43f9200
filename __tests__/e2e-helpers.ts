import { afterAll, afterEach, beforeAll, beforeEach, expect } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
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

export interface CliProxy {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `iap-token proxy ARGS` from the bundle under test, as a person does (HOME the workspace's folder, the fake's
 * endpoints), and resolves once it says where it listens; `uid` runs it as another user.
 */
export function startCliProxy(
  world: World,
  workspace: CliWorkspace,
  args: string[],
  options: { env?: Record<string, string>; uid?: number; cli?: string; home?: string } = {},
): Promise<CliProxy> {
  const child = spawn(process.execPath, [options.cli ?? join(UNDER_TEST, 'dist', 'cli.cjs'), 'proxy', ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: options.home ?? workspace.dir, ...world.fake.env(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  workspace.running.push(child);
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /^(?:Proxying|Forward proxy) (http:\/\/127\.0\.0\.1:\d+)/m.exec(stderr)?.[1];
      if (url) resolve({ url, child, stderr: () => stderr, exited });
    });
    void exited.then((code) => reject(new Error(`the proxy exited (${String(code)}) before it was ready:\n${stderr}`)));
  });
}
