import { setSecret } from '@actions/core';
import type { Config, DoctorConfig, SmokeConfig } from './config.ts';
import type { Env } from './env.ts';
import { ActionError, explain } from './errors.ts';
import type { AgentHandle } from './agent/launch.ts';
import { ACTION_VOCABULARY, actionInputs, givenInputs, readConfig, type InputReader } from './inputs/index.ts';
import { createMinter, type Minter } from './pipeline.ts';
import { publish, writeDoctorSummary, writeSummary } from './publish.ts';
import { log } from './log.ts';
import { setMasker } from './secrets.ts';
import type { SmokeResult } from './smoke/run.ts';
import type { MintedToken } from './tokens/check.ts';

/** inputs → credential → token → smoke tests → publish. Any failure ends the step with one explained error and no outputs. */
export async function run(env: Env = process.env): Promise<void> {
  // The runner masks a secret from the line after its ::add-mask:: on: every secret is registered as it appears.
  setMasker(setSecret);
  try {
    const read = actionInputs(env);
    const config = readConfig(read, env, ACTION_VOCABULARY);
    const minter = createMinter(config, { env, report: log });
    if (config.doctor) await diagnose(config, config.doctor, minter, env);
    const first = await minter.mint();
    const { minted, results } = config.smoke ? await smokeTest(config.smoke, first, minter, env) : { minted: first, results: undefined };
    // keep_fresh, proxy_to: the agent runs on for the rest of the job; the step publishes only once it is ready.
    const agent = config.agent ? await startAgentProcess(read, env, minted) : undefined;
    try {
      await publish(minted, config, env, results, agent);
    } catch (error) {
      if (agent) await withdrawAgent(agent);
      throw error;
    }
  } catch (error) {
    log.fail(explain(error));
  }
}

/**
 * doctor: true. The report goes to the log and the step summary before anything is minted for the job, so that it is
 * there even when minting then fails; it fails the step only with doctor_fail_on_problem.
 */
async function diagnose(config: Config, doctor: DoctorConfig, { http, credential }: Minter, env: Env): Promise<void> {
  const { runDoctor } = await import('./doctor/run.ts');
  const { renderReport } = await import('./doctor/report.ts');
  const report = await runDoctor({ config, doctor, env, http, credential, progress: log.info });
  for (const line of renderReport(report).split('\n')) log.info(line);
  await writeDoctorSummary(report, env);
  const found = report.problems.length + (report.verdict.works ? 0 : 1);
  if (doctor.failOnProblem && found > 0) {
    const first = report.problems[0]?.title ?? 'no token got through IAP';
    throw new ActionError(
      `The doctor found ${report.problems.length || 1} problem(s), and ${config.nameOf('doctor_fail_on_problem')} is true: ${first}. The step summary has the report and each fix.`,
    );
  }
}

/** The agent's launcher, loaded only when asked for. */
async function startAgentProcess(read: InputReader, env: Env, minted: MintedToken): Promise<AgentHandle> {
  const { launchAgent } = await import('./agent/launch.ts');
  log.info('Starting the token agent for the rest of the job.');
  return launchAgent(givenInputs(read), env, minted, log.info);
}

/**
 * A step that fails leaves no token behind (no outputs, no variable), so neither may its agent: it is stopped (waited
 * for, and killed if it will not stop) before its token file is removed, so that it cannot write the file again.
 */
async function withdrawAgent(agent: AgentHandle): Promise<void> {
  const { stopAgent } = await import('./agent/launch.ts');
  const { removeTokenFile } = await import('./agent/token-file.ts');
  await stopAgent(agent.pid, agent.run, log.warning);
  removeTokenFile(agent.tokenFile);
}

/**
 * The smoke tests, loaded only when asked for (most runs mint a token and stop). A failure still gets its summary.
 * Where IAP refused for its audience the ID token auto chose, an access token is smoke-tested once instead
 * (token_type auto's last way), and handed on when every URL passes with it.
 */
async function smokeTest(
  smoke: SmokeConfig,
  minted: MintedToken,
  { http, fallback }: Minter,
  env: Env,
): Promise<{ minted: MintedToken; results: SmokeResult[] }> {
  const { runSmokeTests, smokeFailure, refusedForAudience } = await import('./smoke/run.ts');
  log.info(`Smoke testing ${smoke.targets.length} URL(s) side by side, retrying what can heal for up to ${smoke.retryForMs / 1000} s.`);
  const results = await runSmokeTests(smoke, minted, http, log.info);
  const failure = smokeFailure(results);
  if (!failure) return { minted, results };
  if (fallback && minted.kind === 'id_token' && refusedForAudience(results)) {
    const { trySmokeWithAccessToken } = await import('./smoke/fallback.ts');
    const instead = await trySmokeWithAccessToken(smoke, fallback, http, failure, log.info);
    if (instead.passed) return { minted: instead.minted, results: instead.results };
    await writeSummary(minted, results, env);
    throw instead.failure;
  }
  await writeSummary(minted, results, env);
  throw failure;
}
