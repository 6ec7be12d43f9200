import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/**
 * Runs the bundled action the way the GitHub runner does: `node <runs.main>` with INPUT_* (action.yml defaults
 * applied), the GITHUB_OUTPUT/ENV/STATE/STEP_SUMMARY files, and a log in which `::add-mask::` hides a value from the
 * line after it on, never before. What a person would see is `visibleLog`.
 */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The action under test: under jest, a bundle of the current src/ that the global set-up built (action.yml beside
 * its dist/); elsewhere (the demo, the benchmark) this repository with its committed dist/.
 */
export const UNDER_TEST = process.env['IAP_TOKEN_UNDER_TEST'] || ROOT;

interface ActionYaml {
  inputs: Record<string, { default?: string; required?: boolean }>;
  outputs: Record<string, unknown>;
  runs: { using: string; main: string; post?: string; 'post-if'?: string };
}

export function readActionYaml(): ActionYaml {
  return parseYaml(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYaml;
}

export interface ActionRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The log lines as the runner shows them: commands interpreted, masks applied. */
  readonly visibleLog: readonly string[];
  readonly masks: ReadonlySet<string>;
  readonly outputs: Readonly<Record<string, string>>;
  readonly exportedEnv: Readonly<Record<string, string>>;
  readonly state: string;
  readonly summary: string;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  readonly ms: number;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Set RUNNER_DEBUG=1, as a re-run with debug logging does. */
  readonly debug?: boolean;
}

export async function runAction(inputs: Record<string, string>, options: RunOptions = {}): Promise<ActionRun> {
  const job = prepareJob(inputs, options);
  try {
    return await runStep(job, 'main', options);
  } finally {
    rmSync(job.dir, { recursive: true, force: true });
  }
}

export interface JobRun {
  readonly main: ActionRun;
  /** The post step, as the runner runs it at the end of the job (`post-if: always()`). */
  readonly post: ActionRun;
}

/**
 * A job with this step: the main step, then `between` (the job's later steps: they may use what the step left, such
 * as a token file or a proxy), then the post step with the state the main step saved. Masks last for the whole job.
 */
export async function runJob(
  inputs: Record<string, string>,
  options: RunOptions = {},
  between: (main: ActionRun) => Promise<void> = async () => undefined,
): Promise<JobRun> {
  const job = prepareJob(inputs, options);
  try {
    const main = await runStep(job, 'main', options);
    // The post step runs whatever happened in between, as the runner runs it at the end of the job.
    const failure = await between(main).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    const post = await runStep(job, 'post', options, main);
    if (failure) throw failure;
    return { main, post };
  } finally {
    rmSync(job.dir, { recursive: true, force: true });
  }
}

interface Job {
  readonly dir: string;
  readonly files: Readonly<Record<'GITHUB_OUTPUT' | 'GITHUB_ENV' | 'GITHUB_STATE' | 'GITHUB_STEP_SUMMARY', string>>;
  readonly env: Readonly<Record<string, string>>;
}

function prepareJob(inputs: Record<string, string>, options: RunOptions): Job {
  const action = readActionYaml();
  for (const name of Object.keys(inputs)) {
    if (!(name in action.inputs)) throw new Error(`test bug: action.yml has no input ${name}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'iap-token-run-'));
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
  };
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'octo-org/deploy-app',
    GITHUB_WORKFLOW: 'deploy',
    RUNNER_TEMP: dir,
    ...(options.debug ? { RUNNER_DEBUG: '1' } : {}),
    ...files,
  };
  // The runner sets every declared input: the workflow's value, else the default, else empty.
  for (const [name, spec] of Object.entries(action.inputs)) {
    env[`INPUT_${name.toUpperCase()}`] = inputs[name] ?? spec.default ?? '';
  }
  Object.assign(env, options.env);
  return { dir, files, env };
}

async function runStep(job: Job, step: 'main' | 'post', options: RunOptions, main?: ActionRun): Promise<ActionRun> {
  const action = readActionYaml();
  const { files } = job;
  // Each step gets fresh output, env and summary files; the state the main step saved reaches the post step as STATE_*.
  const state = main ? parseFileCommand(main.state) : {};
  for (const file of Object.values(files)) writeFileSync(file, '');
  const env = { ...job.env, ...Object.fromEntries(Object.entries(state).map(([name, value]) => [`STATE_${name}`, value])) };
  const entry = step === 'main' ? action.runs.main : action.runs.post;
  if (!entry) throw new Error('test bug: action.yml has no post step');

  const started = Date.now();
  const child = spawn(process.execPath, [join(UNDER_TEST, entry)], { env, cwd: job.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timeoutMs = options.timeoutMs ?? 60_000;
  // Like the runner, the step is over when the process has exited and its standard output and error are closed: a
  // background process that holds them holds the step (until the timeout here).
  const exitCode = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const ms = Date.now() - started;

  const { visibleLog, masks, errors, warnings } = renderLog(stdout, main?.masks);
  const read = (file: string) => readFileSync(file, 'utf8');
  return {
    exitCode,
    stdout,
    stderr,
    visibleLog,
    masks,
    outputs: parseFileCommand(read(files.GITHUB_OUTPUT)),
    exportedEnv: parseFileCommand(read(files.GITHUB_ENV)),
    state: read(files.GITHUB_STATE),
    summary: read(files.GITHUB_STEP_SUMMARY),
    errors,
    warnings,
    ms,
  };
}

/** Unescapes a workflow command's data the way the runner does. */
function unescapeData(value: string): string {
  return value.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/**
 * The log as the runner shows it: workflow commands interpreted (masks registered from the line after theirs on,
 * masks of earlier steps in `earlier`), errors and warnings collected. Exported for the tests that run the action's
 * `run()` in their own process and read what it wrote as the runner would.
 */
export function renderLog(
  stdout: string,
  earlier: ReadonlySet<string> = new Set(),
): { visibleLog: string[]; masks: Set<string>; errors: string[]; warnings: string[] } {
  // Masks registered by an earlier step of the job still apply.
  const masks = new Set<string>(earlier);
  const visibleLog: string[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  /** While set, the token that ends stop-commands: until then every line is plain text, ::add-mask:: included. */
  let stoppedBy: string | undefined;
  const mask = (line: string) => {
    let out = line;
    for (const secret of [...masks].sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
    return out;
  };
  const command = (name: string, data: string): boolean => {
    switch (name) {
      case 'add-mask':
        // Registered now: this line is not shown, and every later line is masked.
        masks.add(data);
        return true;
      case 'stop-commands':
        stoppedBy = data;
        return true;
      case 'error':
      case 'warning':
        for (const shown of data.split('\n')) visibleLog.push(mask(`${name}: ${shown}`));
        (name === 'error' ? errors : warnings).push(mask(data));
        return true;
      default:
        return false;
    }
  };
  for (const line of stdout.split('\n')) {
    if (stoppedBy !== undefined) {
      if (line.trim() === `::${stoppedBy}::`) stoppedBy = undefined;
      else visibleLog.push(mask(line));
      continue;
    }
    // ::command args::data, at the start of a line (after spaces); data un-escaped as the runner does.
    const modern = /^[\s\u0085]*::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line);
    if (modern && command(modern[1] ?? '', unescapeData(modern[2] ?? ''))) continue;
    // The legacy ##[command args]data, which the runner honours anywhere in a line.
    const legacy = /##\[([a-z-]+)(?: [^\]]*)?\](.*)$/.exec(line);
    if (legacy && command(legacy[1] ?? '', unescapeData(legacy[2] ?? ''))) continue;
    if (modern) {
      // Another command (group, debug, …): shown as its data.
      visibleLog.push(mask(`${modern[1] ?? ''}: ${unescapeData(modern[2] ?? '')}`));
      continue;
    }
    visibleLog.push(mask(line));
  }
  return { visibleLog, masks, errors, warnings };
}

/** Reads GITHUB_OUTPUT/GITHUB_ENV: `name<<DELIMITER\nvalue\nDELIMITER` blocks (or `name=value` lines). */
export function parseFileCommand(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name = '', delimiter = ''] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? '');
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

/**
 * Finds any secret where a person could read it: the visible log, the step summary, GITHUB_STATE, stderr, or any
 * output or variable but the two that carry the token by design (the `token` output and the exported variable).
 * A secret counts as shown whole, by any of its lines, or (a JWT) by any of its three parts.
 */
export function findLeaks(run: ActionRun, secrets: Iterable<string>, exportVariable = 'IAP_TOKEN'): string[] {
  const findings: string[] = [];
  const places: Array<[string, string]> = [
    ['log', run.visibleLog.join('\n')],
    ['step summary', run.summary],
    ['GITHUB_STATE', run.state],
    ['stderr', run.stderr],
    ...Object.entries(run.outputs)
      .filter(([name]) => name !== 'token')
      .map(([k, v]): [string, string] => [`output ${k}`, v]),
    ...Object.entries(run.exportedEnv)
      .filter(([name]) => name !== exportVariable)
      .map(([k, v]): [string, string] => [`env ${k}`, v]),
  ];
  for (const secret of secrets) {
    const lines = secret.split('\n').filter((line) => line.trim().length >= 16);
    const jwtParts = /^[\w-]+\.[\w-]+\.[\w-]+$/.test(secret) ? secret.split('.').filter((part) => part.length >= 16) : [];
    const pieces = [secret, ...lines, ...jwtParts];
    for (const [where, text] of places) {
      if (pieces.some((piece) => text.includes(piece))) findings.push(`a secret (${secret.slice(0, 8)}…) appears in ${where}`);
    }
  }
  return findings;
}

/** Secrets the action received or fetched but never registered with `::add-mask::`. */
export function unmasked(run: ActionRun, secrets: Iterable<string>): string[] {
  const missing: string[] = [];
  for (const secret of secrets) {
    const lines = secret
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length >= 6);
    const masked = run.masks.has(secret) || run.masks.has(secret.trim()) || (lines.length > 1 && lines.every((l) => run.masks.has(l)));
    if (!masked) missing.push(`${secret.slice(0, 8)}…`);
  }
  return missing;
}
