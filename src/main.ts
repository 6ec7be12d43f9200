import { info, setFailed, warning } from '@actions/core';
import { createCredential, describeSource } from './credentials/index.ts';
import type { Env } from './endpoints.ts';
import { explain } from './errors.ts';
import { Http } from './http.ts';
import { IamCredentials } from './iam.ts';
import { readConfig } from './inputs.ts';
import { describeMinted, publish, writeSummary } from './publish.ts';
import type { SmokeResult } from './smoke/run.ts';
import { redact } from './secrets.ts';
import { mintIdToken } from './tokens/id-token.ts';
import { mintSignedJwt } from './tokens/signed-jwt.ts';

/** A token with less time left than this is likely to expire while the job still uses it. */
const EXPIRY_WARNING_S = 300;

/** inputs → credential → token → publish. Any failure ends the step with one explained error and no outputs. */
export async function run(env: Env = process.env): Promise<void> {
  try {
    const config = readConfig(env);
    if (!config.includeEmail && config.tokenType === 'id_token') {
      warning("include_email is false: IAP refuses ID tokens without an email claim (\"JWT 'email' claim isn't a string\").");
    }
    const http = new Http({ log: info });
    const iam = new IamCredentials(http, config.endpoints.iamcredentials);
    const credential = createCredential(config.source, { endpoints: config.endpoints, http, iam, env });
    const as = config.serviceAccount ? `; minting for ${config.serviceAccount}` : '';
    info(`Credential: ${describeSource(config.source)}${as}.`);
    const mint = config.tokenType === 'signed_jwt' ? mintSignedJwt : mintIdToken;
    const minted = await mint(config, credential, iam);
    info(describeMinted(minted));
    const secondsLeft = Math.round((minted.expiresAt.getTime() - Date.now()) / 1000);
    if (secondsLeft < EXPIRY_WARNING_S) {
      warning(
        `The token expires in ${secondsLeft} s, before most jobs are done with it. ${config.tokenType === 'signed_jwt' ? 'Raise lifetime, or check' : 'Check'} the runner's clock (the token's exp is ${minted.expiresAt.toISOString()}).`,
      );
    }
    let results: SmokeResult[] | undefined;
    if (config.smoke) {
      // Loaded only when asked for: most runs mint a token and stop.
      const { runSmokeTests, smokeFailure } = await import('./smoke/run.ts');
      info(
        `Smoke testing ${config.smoke.targets.length} URL(s) side by side, retrying what can heal for up to ${config.smoke.retryForMs / 1000} s.`,
      );
      results = await runSmokeTests(config.smoke, minted, http, info);
      const failure = smokeFailure(results);
      if (failure) {
        await writeSummary(minted, results, env);
        throw failure;
      }
    }
    await publish(minted, config, env, results);
  } catch (error) {
    setFailed(redact(explain(error)));
  }
}
