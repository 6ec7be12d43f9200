import { info, setFailed, warning } from '@actions/core';
import { createCredential, describeSource } from './credentials/index.ts';
import type { Env } from './endpoints.ts';
import { explain } from './errors.ts';
import { Http } from './http.ts';
import { IamCredentials } from './iam.ts';
import { readConfig } from './inputs.ts';
import { publish } from './publish.ts';
import { redact } from './secrets.ts';
import { mintIdToken } from './tokens/id-token.ts';
import { mintSignedJwt } from './tokens/signed-jwt.ts';

/** inputs → credential → token → publish. Any failure ends the step with one explained error and no outputs. */
export async function run(env: Env = process.env): Promise<void> {
  try {
    const config = readConfig(env);
    if (!config.includeEmail && config.tokenType === 'id_token') {
      warning('include_email is false: IAP refuses ID tokens without an email claim ("JWT \'email\' claim isn\'t a string").');
    }
    const http = new Http({ log: info });
    const iam = new IamCredentials(http, config.endpoints.iamcredentials);
    const credential = createCredential(config.source, { endpoints: config.endpoints, http, iam, env });
    const as = config.serviceAccount ? `; minting for ${config.serviceAccount}` : '';
    info(`Credential: ${describeSource(config.source)}${as}.`);
    const mint = config.tokenType === 'signed_jwt' ? mintSignedJwt : mintIdToken;
    const minted = await mint(config, credential, iam);
    await publish(minted, config, env);
  } catch (error) {
    setFailed(redact(explain(error)));
  }
}
