import { exportVariable, info, setOutput, summary, warning } from '@actions/core';
import type { Config } from './config.ts';
import type { Env } from './endpoints.ts';
import { registerSecret } from './secrets.ts';
import type { SmokeResult } from './smoke/run.ts';
import { kindOf, rfc3339, type MintedToken } from './tokens/check.ts';

/** Every output the action sets, as action.yml declares them (a test keeps the two equal). */
export const OUTPUT_NAMES = ['token', 'expires_at', 'principal', 'smoke_test_results'] as const;
type OutputName = (typeof OUTPUT_NAMES)[number];

/**
 * The only place that writes outputs and the environment. It runs last, once everything else has succeeded, so a
 * failed step leaves no token behind. The token is masked before it is written anywhere.
 */
export async function publish(minted: MintedToken, config: Config, env: Env, results: readonly SmokeResult[] | undefined): Promise<void> {
  registerSecret(minted.token);
  const outputs: Partial<Record<OutputName, string>> = {
    token: minted.token,
    expires_at: rfc3339(minted.expiresAt),
    principal: minted.principal,
    ...(results ? { smoke_test_results: JSON.stringify(results.map(({ diagnosis: _diagnosis, ...result }) => result)) } : {}),
  };
  for (const [name, value] of Object.entries(outputs)) setOutput(name, value);
  if (config.exportVariable) {
    exportVariable(config.exportVariable, minted.token);
    info(`Exported the token as $${config.exportVariable} for the job's next steps.`);
  }
  await writeSummary(minted, results, env);
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
    warning(`Could not write the step summary: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function buildSummary(minted: MintedToken, results: readonly SmokeResult[] | undefined): typeof summary {
  const header = (cells: string[]) => cells.map((data) => ({ data, header: true }));
  summary
    .addHeading('IAP token', 3)
    .addTable([
      header(['Principal', 'Token type', 'Audience', 'Expires']),
      [minted.principal, kindOf(minted), minted.audience, rfc3339(minted.expiresAt)],
    ]);
  if (results) {
    summary
      .addHeading('Smoke tests', 3)
      .addTable([
        header(['Result', 'Request', 'Status', 'Answered by', 'Attempts', 'Time']),
        ...results.map((result) => [
          result.ok ? '✅' : '❌',
          `${result.method} ${result.url}`,
          result.status === null ? 'no answer' : String(result.status),
          result.from === 'iap' ? 'IAP' : result.from === 'app' ? 'the app' : '—',
          String(result.attempts),
          `${(result.ms / 1000).toFixed(1)} s`,
        ]),
      ]);
    const failed = results.filter((result) => result.diagnosis);
    if (failed.length) summary.addList(failed.map((result) => `${result.method} ${result.url}: ${result.diagnosis ?? ''}`));
  }
  return summary;
}
