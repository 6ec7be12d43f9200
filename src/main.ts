import { setSecret } from '@actions/core';
import type { SmokeConfig } from './config.ts';
import type { Env } from './endpoints.ts';
import { explain } from './errors.ts';
import type { Http } from './http/client.ts';
import type { AgentHandle } from './agent/launch.ts';
import { ACTION_VOCABULARY, actionInputs, readConfig, type InputReader } from './inputs/index.ts';
import { createMinter } from './pipeline.ts';
import { publish, writeSummary } from './publish.ts';
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
    const minter = createMinter(config, { env, report: { info: log.info, warning: log.warning } });
    const minted = await minter.mint();
    const results = config.smoke ? await smokeTest(config.smoke, minted, minter.http, env) : undefined;
    // keep_fresh, proxy_to: the agent runs on for the rest of the job; the step publishes only once it is ready.
    const agent = config.agent ? await startAgentProcess(read, env, minted) : undefined;
    try {
      await publish(minted, config, env, results, agent);
    } catch (error) {
      if (agent) process.kill(agent.pid, 'SIGTERM');
      throw error;
    }
  } catch (error) {
    log.fail(explain(error));
  }
}

/** The agent's launcher, loaded only when asked for. */
async function startAgentProcess(read: InputReader, env: Env, minted: MintedToken): Promise<AgentHandle> {
  const { launchAgent } = await import('./agent/launch.ts');
  log.info('Starting the token agent for the rest of the job.');
  return launchAgent(read, env, minted, log.info);
}

/** The smoke tests, loaded only when asked for (most runs mint a token and stop). A failure still gets its summary. */
async function smokeTest(smoke: SmokeConfig, minted: MintedToken, http: Http, env: Env): Promise<SmokeResult[]> {
  const { runSmokeTests, smokeFailure } = await import('./smoke/run.ts');
  log.info(`Smoke testing ${smoke.targets.length} URL(s) side by side, retrying what can heal for up to ${smoke.retryForMs / 1000} s.`);
  const results = await runSmokeTests(smoke, minted, http, log.info);
  const failure = smokeFailure(results);
  if (failure) {
    await writeSummary(minted, results, env);
    throw failure;
  }
  return results;
}
