import { expect } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/main.ts';
import { findLeaks, parseFileCommand, readActionYaml, renderLog, type ActionRun } from '../test-bed/runner.ts';
import type { World } from '../test-bed/world.ts';

/**
 * The action's `run()` in this process, as src/index.ts calls it: inputs from INPUT_*, the runner's files from
 * GITHUB_*, the log on standard output, read back as the runner reads it (test-bed/runner.ts). No bundle and no
 * process: fast, and it proves the flow itself. What only a process shows (its exit code, its standard error, the
 * bundle) is the e2e tests' (e2e-inputs.test.ts and the others run the bundle with test-bed/runner.ts).
 */

export interface InProcessRun extends ActionRun {
  /** Standard output's lines as written: commands not interpreted, nothing masked. */
  readonly log: readonly string[];
  /** GITHUB_OUTPUT and GITHUB_ENV as written. */
  readonly outputFile: string;
  readonly envFile: string;
}

export interface InProcessOptions {
  /** More environment (an endpoint override, GitHub's OIDC variables emptied…), over the fake's. */
  readonly env?: Record<string, string>;
  /**
   * true (the default): every input action.yml declares is set, to its default unless given, as the runner sets
   * them. false: only the inputs given, as a runner that does not fill defaults (local-action) sets them.
   */
  readonly runnerDefaults?: boolean;
}

const FILES = { GITHUB_OUTPUT: 'output', GITHUB_ENV: 'env', GITHUB_STATE: 'state', GITHUB_STEP_SUMMARY: 'summary' } as const;

let filesDir: string | undefined;

/**
 * One folder of runner files for every run in this process, each file emptied before a run: @actions/core's summary
 * keeps the first GITHUB_STEP_SUMMARY it reads, so a second run's summary would go to a folder of its own that an
 * earlier run had removed. Removed when the process exits.
 */
function runnerFilesDir(): string {
  if (filesDir) return filesDir;
  const dir = mkdtempSync(join(tmpdir(), 'iap-token-in-process-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  filesDir = dir;
  return dir;
}

/**
 * Runs the action's main step in this process against the fake, and checks, as the e2e `run()` does, that no secret
 * the fake knows (nor the credentials_json given) is where a person could read it. Standard error is not captured:
 * `stderr` is always empty here.
 */
export async function runInProcess(world: World, inputs: Record<string, string>, options: InProcessOptions = {}): Promise<InProcessRun> {
  const declared = readActionYaml().inputs;
  for (const name of Object.keys(inputs)) {
    if (!(name in declared)) throw new Error(`test bug: action.yml has no input ${name}`);
  }
  const given =
    options.runnerDefaults === false
      ? inputs
      : { ...Object.fromEntries(Object.entries(declared).map(([name, spec]) => [name, spec.default ?? ''])), ...inputs };
  const dir = runnerFilesDir();
  const files: Record<string, string> = {};
  for (const [name, file] of Object.entries(FILES)) {
    files[name] = join(dir, file);
    writeFileSync(join(dir, file), '');
  }
  const env = {
    ...world.fake.env(),
    ...files,
    ...Object.fromEntries(Object.entries(given).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value])),
    ...options.env,
  };
  // @actions/core finds the runner's files in process.env, and exporting a variable sets it there too: both undone after.
  const saved = { ...process.env };
  Object.assign(process.env, files);
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  };
  process.exitCode = 0;
  const started = Date.now();
  try {
    await run(env);
  } finally {
    process.stdout.write = write;
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
  const ms = Date.now() - started;
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  const read = (name: keyof typeof FILES) => readFileSync(files[name] ?? '', 'utf8');
  const [outputFile, envFile, state, summary] = [
    read('GITHUB_OUTPUT'),
    read('GITHUB_ENV'),
    read('GITHUB_STATE'),
    read('GITHUB_STEP_SUMMARY'),
  ];
  const result: InProcessRun = {
    exitCode,
    stdout,
    stderr: '',
    ...renderLog(stdout),
    outputs: parseFileCommand(outputFile),
    exportedEnv: parseFileCommand(envFile),
    state,
    summary,
    ms,
    log: stdout.split('\n').filter(Boolean),
    outputFile,
    envFile,
  };
  const secrets = [...world.fake.secrets, inputs['credentials_json'] ?? ''].filter(Boolean);
  expect(findLeaks(result, secrets, given['export_variable'] ?? 'IAP_TOKEN')).toEqual([]);
  return result;
}
