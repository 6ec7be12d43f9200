import type { Config, TokenType } from '../config.ts';
import type { Credential } from '../credentials/index.ts';
import type { IamCredentials } from '../google/iam-credentials.ts';
import type { Logger } from '../logger.ts';
import { describeMinted, type MintedToken } from './check.ts';
import { mintAccessToken } from './access-token.ts';
import { mintIdToken } from './id-token.ts';
import { mintSignedJwt } from './signed-jwt.ts';

/** A token with less time left than this is likely to expire while the job still uses it. */
const EXPIRY_WARNING_S = 300;

const MINTERS = {
  id_token: (config, credential, _iam, now) => mintIdToken(config, credential, now),
  signed_jwt: mintSignedJwt,
  access_token: (config, credential, _iam, now) => mintAccessToken(config, credential, now),
} satisfies Record<TokenType, (config: Config, credential: Credential, iam: IamCredentials, now: () => number) => Promise<MintedToken>>;

/** The kind of token asked for, checked, logged (never the token itself), with a warning when IAP is likely to balk. */
export async function mintToken(
  config: Config,
  credential: Credential,
  iam: IamCredentials,
  { info, warning }: Logger,
  now: () => number = Date.now,
): Promise<MintedToken> {
  if (!config.includeEmail && config.tokenType === 'id_token') {
    warning(
      `${config.nameOf('include_email')} is false: IAP refuses ID tokens without an email claim ("JWT 'email' claim isn't a string").`,
    );
  }
  const minted = await MINTERS[config.tokenType](config, credential, iam, now);
  info(describeMinted(minted, now()));
  const secondsLeft = Math.round((minted.expiresAt.getTime() - now()) / 1000);
  if (secondsLeft < EXPIRY_WARNING_S) {
    const fix = config.tokenType === 'signed_jwt' ? `Raise ${config.nameOf('lifetime')}, or check` : 'Check';
    warning(
      `The token expires in ${secondsLeft} s, before most jobs are done with it. ${fix} the runner's clock (the token's exp is ${minted.expiresAt.toISOString()}).`,
    );
  }
  return minted;
}
