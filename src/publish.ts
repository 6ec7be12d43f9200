import { exportVariable, info, setOutput, summary } from '@actions/core';
import type { Config } from './config.ts';
import type { Env } from './endpoints.ts';
import { registerSecret } from './secrets.ts';
import type { MintedToken } from './tokens/check.ts';

/**
 * The only place that writes outputs and the environment. It runs last, once everything else has succeeded, so a
 * failed step leaves no token behind. The token is masked before it is written anywhere.
 */
export async function publish(minted: MintedToken, config: Config, env: Env, now: number = Date.now()): Promise<void> {
  registerSecret(minted.token);
  const expiresAt = minted.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  setOutput('token', minted.token);
  setOutput('expires_at', expiresAt);
  setOutput('principal', minted.principal);
  if (config.exportVariable) exportVariable(config.exportVariable, minted.token);

  const minutes = Math.round((minted.expiresAt.getTime() - now) / 60_000);
  const exported = config.exportVariable ? `; exported as $${config.exportVariable}` : '';
  const kind = minted.kind === 'signed_jwt' ? 'a signed JWT' : 'an ID token';
  info(`Minted ${kind} for ${minted.principal}, audience ${minted.audience}, expires ${expiresAt} (in ${minutes} min)${exported}.`);

  if (env['GITHUB_STEP_SUMMARY']) {
    await summary
      .addHeading('IAP token', 3)
      .addTable([
        [{ data: 'Principal', header: true }, { data: 'Token type', header: true }, { data: 'Audience', header: true }, { data: 'Expires', header: true }],
        [minted.principal, minted.kind === 'signed_jwt' ? 'signed JWT' : 'ID token', minted.audience, expiresAt],
      ])
      .write();
  }
}
