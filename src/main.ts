import { info, setFailed, warning } from '@actions/core';
import { createCredential, describeSource } from './credentials/index.ts';
import type { Env } from './endpoints.ts';
import { explain } from './errors.ts';
import { Http } from './http.ts';
import { IamCredentials } from './iam.ts';
import { readConfig } from './inputs.ts';
import { publish, writeSummary } from './publish.ts';
import { redact } from './secrets.ts';
import type { SmokeConfig } from './smoke/config.ts';
import type { SmokeResult } from './smoke/run.ts';
import type { MintedToken } from './tokens/check.ts';
import { mintToken } from './tokens/mint.ts';

/** inputs → credential → token → smoke tests → publish. Any failure ends the step with one explained error and no outputs. */
export async function run(env: Env = process.env): Promise<void> {
  try {
    const config = readConfig(env);
    const http = new Http({ log: info });
    const iam = new IamCredentials(http, config.endpoints.iamcredentials);
    const credential = createCredential(config.source, { endpoints: config.endpoints, http, iam, env });
    info(`Credential: ${describeSource(config.source)}${config.serviceAccount ? `; minting for ${config.serviceAccount}` : ''}.`);
    const minted = await mintToken(config, credential, iam, { info, warning });
    const results = config.smoke ? await smokeTest(config.smoke, minted, http, env) : undefined;
    await publish(minted, config, env, results);
  } catch (error) {
    setFailed(redact(explain(error)));
  }
}

/** The smoke tests, loaded only when asked for (most runs mint a token and stop). A failure still gets its summary. */
async function smokeTest(smoke: SmokeConfig, minted: MintedToken, http: Http, env: Env): Promise<SmokeResult[]> {
  const { runSmokeTests, smokeFailure } = await import('./smoke/run.ts');
  info(`Smoke testing ${smoke.targets.length} URL(s) side by side, retrying what can heal for up to ${smoke.retryForMs / 1000} s.`);
  const results = await runSmokeTests(smoke, minted, http, info);
  const failure = smokeFailure(results);
  if (failure) {
    await writeSummary(minted, results, env);
    throw failure;
  }
  return results;
}
