import { closeSync, openSync } from 'node:fs';
import { exportVariable, saveState, setOutput, summary } from '@actions/core';
import { renderReport, type DoctorReport } from './doctor/report.ts';
import { redact } from './secrets.ts';
import type { AgentHandle } from './agent/launch.ts';
import type { AgentStats } from './agent/stats.ts';
import type { Config } from './config.ts';
import { ActionError, messageOf } from './errors.ts';
import { log } from './log.ts';
import type { Env } from './env.ts';
import { registerSecret } from './secrets.ts';
import type { SmokeResult } from './smoke/run.ts';
import { kindOf, rfc3339, type MintedToken } from './tokens/check.ts';

/** Every output the action sets, as action.yml declares them (a test keeps the two equal). */
export const OUTPUT_NAMES = [
  'token',
  'token_type',
  'expires_at',
  'principal',
  'smoke_test_results',
  'token_file',
  'proxy_url',
  'forward_proxy_url',
  'proxy_ca_file',
  'proxy_spki',
] as const;
type OutputName = (typeof OUTPUT_NAMES)[number];

/**
 * The only place that writes outputs and the environment. It runs last, once everything else has succeeded, so a
 * failed step leaves no token behind. The token is masked before it is written anywhere.
 */
export async function publish(
  minted: MintedToken,
  config: Config,
  env: Env,
  results: readonly SmokeResult[] | undefined,
  agent?: AgentHandle,
): Promise<void> {
  registerSecret(minted.token);
  // All or nothing: a runner file that cannot be written fails the step before any output exists.
  checkWritable(env, agent ? ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_STATE'] : ['GITHUB_OUTPUT', 'GITHUB_ENV']);
  const outputs = outputsOf(minted, results, agent);
  const variables = variablesOf(minted, config, agent);
  if (agent) {
    // For the post step: where the agent is and what to clean up. No secret: a process id, the run's id and paths.
    const { pid, run, tokenFile, statsFile, logFile } = agent;
    saveState('agent', JSON.stringify({ pid, run, tokenFile, statsFile, logFile }));
  }
  for (const [name, value] of Object.entries(outputs)) setOutput(name, value);
  for (const [name, value] of Object.entries(variables)) exportVariable(name, value);
  announce(config, agent);
  await writeSummary(minted, results, env);
}

/** The step's outputs: the token and what describes it, the smoke results, and the agent's files and proxies. */
function outputsOf(
  minted: MintedToken,
  results: readonly SmokeResult[] | undefined,
  agent: AgentHandle | undefined,
): Partial<Record<OutputName, string>> {
  return {
    token: minted.token,
    token_type: minted.kind,
    expires_at: rfc3339(minted.expiresAt),
    principal: minted.principal,
    ...(results
      ? { smoke_test_results: JSON.stringify(results.map(({ diagnosis: _diagnosis, refusal: _refusal, ...result }) => result)) }
      : {}),
    ...(agent ? { token_file: agent.tokenFile } : {}),
    ...(agent?.proxyUrl ? { proxy_url: agent.proxyUrl } : {}),
    ...(agent?.forwardProxyUrl ? { forward_proxy_url: agent.forwardProxyUrl } : {}),
    ...(agent?.caFile ? { proxy_ca_file: agent.caFile } : {}),
    ...(agent?.spki ? { proxy_spki: agent.spki } : {}),
  };
}

/** The variables later steps get: export_variable (and its _FILE), and the agent's proxies. */
function variablesOf(minted: MintedToken, config: Config, agent: AgentHandle | undefined): Record<string, string> {
  const variables: Record<string, string> = {};
  if (config.exportVariable) {
    variables[config.exportVariable] = minted.token;
    if (agent) variables[`${config.exportVariable}_FILE`] = agent.tokenFile;
  }
  if (agent?.proxyUrl) variables['IAP_PROXY_URL'] = agent.proxyUrl;
  if (agent?.forwardProxyUrl) variables['IAP_FORWARD_PROXY'] = agent.forwardProxyUrl;
  if (agent?.caFile) variables['IAP_PROXY_CA_FILE'] = agent.caFile;
  if (agent?.spki) variables['IAP_PROXY_SPKI'] = agent.spki;
  return variables;
}

/** What the log says was handed on (never a token): the variable, the token file, the proxies. */
function announce(config: Config, agent: AgentHandle | undefined): void {
  if (config.exportVariable) log.info(`Exported the token as $${config.exportVariable} for the job's next steps.`);
  if (!agent) return;
  log.info(
    `The token agent (pid ${agent.pid}) keeps ${agent.tokenFile} fresh${config.exportVariable ? ` ($${config.exportVariable}_FILE)` : ''} until the job ends.`,
  );
  if (agent.forwardProxyUrl) {
    log.info(
      `Forward proxy ready: $IAP_FORWARD_PROXY is ${agent.forwardProxyUrl}; browsers trust its CA in $IAP_PROXY_CA_FILE (${agent.caFile ?? ''}).`,
    );
  }
  if (agent.proxyUrl) {
    log.info(
      `Proxy ready: $IAP_PROXY_URL is ${agent.proxyUrl}; it adds a fresh token to every request to ${config.agent?.proxy?.target ?? ''}.`,
    );
  }
}

function checkWritable(env: Env, names: readonly string[]): void {
  for (const name of names) {
    const path = env[name];
    if (!path) continue;
    try {
      // Opened for appending, as the toolkit will: this also fails for a folder, which a permission check (as root) would pass.
      closeSync(openSync(path, 'a'));
    } catch (error) {
      throw new ActionError(
        `The runner's ${name} file cannot be written (${(error as { code?: string }).code ?? 'error'}); nothing was published.`,
      );
    }
  }
}

/** The post step's report of the agent: what it did for the job, as a table in the step summary. */
export async function writeAgentSummary(report: AgentStats, env: Env): Promise<void> {
  if (!env['GITHUB_STEP_SUMMARY']) return;
  const refusals = Object.entries(report.refusals)
    .map(([kind, count]) => `${kind} ${String(count)}`)
    .join(', ');
  try {
    await summary
      .addHeading('IAP token agent', 3)
      .addTable([
        [
          { data: 'Refreshes', header: true },
          { data: 'Requests proxied', header: true },
          { data: 'IAP refusals', header: true },
          { data: 'Upstream errors', header: true },
          { data: 'Failed mints', header: true },
        ],
        [
          String(report.refreshes),
          String(report.requests),
          escapeHtml(refusals || 'none'),
          String(report.upstreamErrors),
          String(report.mintFailures),
        ],
      ])
      .write();
  } catch (error) {
    log.warning(`Could not write the step summary: ${messageOf(error)}`);
  }
}

/**
 * The step summary: who the token is for and until when (never the token), and the smoke test results. Written on
 * failure too, where it helps most.
 */
export async function writeSummary(minted: MintedToken, results: readonly SmokeResult[] | undefined, env: Env): Promise<void> {
  if (!env['GITHUB_STEP_SUMMARY']) return;
  try {
    await buildSummary(minted, results).write();
  } catch (error) {
    // The summary is a courtesy: failing to write it must not hide the step's real outcome.
    log.warning(`Could not write the step summary: ${messageOf(error)}`);
  }
}

/**
 * The doctor's report: the verdict as a heading line, then the whole report as preformatted text (every character of
 * it escaped: it quotes what servers said). Written whatever the verdict; a failure to write it is only a warning.
 */
export async function writeDoctorSummary(report: DoctorReport, env: Env): Promise<void> {
  if (!env['GITHUB_STEP_SUMMARY']) return;
  try {
    await summary
      .addHeading('IAP doctor', 3)
      .addRaw(`<p>${report.verdict.works ? '✅' : '❌'} ${escapeHtml(report.verdict.text)}</p>`, true)
      // <br>, not line breaks: a blank line would end the HTML block and turn the rest into Markdown.
      .addRaw(`<pre>${escapeHtml(redact(renderReport(report)))}</pre>`, true)
      .write();
  } catch (error) {
    log.warning(`Could not write the step summary: ${messageOf(error)}`);
  }
}

/**
 * The summary is HTML (the toolkit writes cells as they are): everything in it is escaped, for a diagnosis quotes
 * what a server said, and any server can claim to be IAP.
 */
export function escapeHtml(text: string): string {
  // HTML's specials, and Markdown's (the summary is Markdown around HTML), as entities; line breaks as <br>, for a
  // blank line would end the HTML block and let what follows render as Markdown.
  return text.replace(/[&<>"'[\]()!*_`|~\\#]/g, (char) => `&#${char.charCodeAt(0)};`).replace(/\r?\n|\r/g, '<br>');
}

function buildSummary(minted: MintedToken, results: readonly SmokeResult[] | undefined): typeof summary {
  const header = (cells: string[]) => cells.map((data) => ({ data: escapeHtml(data), header: true }));
  const row = (cells: string[]) => cells.map(escapeHtml);
  summary
    .addHeading('IAP token', 3)
    .addTable([
      header(['Principal', 'Token type', 'Audience', 'Expires']),
      row([minted.principal, kindOf(minted.kind), minted.audience || 'none (scopes openid and email)', rfc3339(minted.expiresAt)]),
    ]);
  if (results) {
    summary
      .addHeading('Smoke tests', 3)
      .addTable([
        header(['Result', 'Request', 'Status', 'Answered by', 'Attempts', 'Time']),
        ...results.map((result) =>
          row([
            result.ok ? '✅' : '❌',
            `${result.deny ? 'DENY' : result.method} ${result.url}`,
            result.status === null ? 'no answer' : String(result.status),
            result.from === 'iap' ? 'IAP' : result.from === 'app' ? 'the app' : '—',
            String(result.attempts),
            `${(result.ms / 1000).toFixed(1)} s`,
          ]),
        ),
      ]);
    const failed = results.filter((result) => result.diagnosis);
    if (failed.length) {
      summary.addList(
        failed.map((result) => escapeHtml(`${result.deny ? 'DENY' : result.method} ${result.url}: ${result.diagnosis ?? ''}`)),
      );
    }
  }
  return summary;
}
