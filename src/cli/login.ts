import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { resolveEndpoints } from '../endpoints.ts';
import type { Env } from '../env.ts';
import { ActionError, explain } from '../errors.ts';
import { CLOUD_PLATFORM_SCOPE } from '../google/answer.ts';
import { OAuthTokenEndpoint, type RefreshTokenGrant } from '../google/oauth.ts';
import { Http } from '../http/client.ts';
import { listenOnLoopback, type HttpServer as Server } from '../http/listen.ts';
import { redact } from '../secrets.ts';
import { checkIdToken } from '../tokens/check.ts';
import { parseArgs, UsageError } from './args.ts';
import { CLI_VOCABULARY } from './vocabulary.ts';
import type { LogLine } from '../logger.ts';

export interface LoginResult {
  readonly refreshToken: string;
  readonly email: string | undefined;
}

/**
 * The authorization-code flow with a loopback redirect and PKCE: a one-shot server on 127.0.0.1, a random `state`,
 * the browser sent to Google's sign-in, the code exchanged for a refresh token.
 */
export async function loginCommand(argv: readonly string[], env: Env, log: LogLine): Promise<string> {
  const { values, flags } = parseArgs(argv, {
    values: ['client-id', 'client-secret', 'audience', 'port', 'timeout'],
    flags: ['no-browser', 'cloud-platform'],
  });
  const clientId = values['client-id'];
  // From the environment, the secret stays out of shell history and other users' process lists.
  const clientSecret = values['client-secret'] ?? env['IAP_TOKEN_CLIENT_SECRET'];
  if (!clientId || !clientSecret) {
    throw new UsageError(
      '--client-id and the client secret (IAP_TOKEN_CLIENT_SECRET, or --client-secret) are required: the desktop OAuth client',
    );
  }
  const port = values['port'] === undefined ? 0 : Number(values['port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be a port number');
  const timeoutS = values['timeout'] === undefined ? 300 : Number(values['timeout']);
  if (!Number.isInteger(timeoutS) || timeoutS < 1) throw new UsageError('--timeout must be whole seconds');
  const endpoints = resolveEndpoints('googleapis.com', env, CLI_VOCABULARY.complain);
  const audience = values['audience'];

  const verifier = randomBytes(48).toString('base64url');
  const state = randomBytes(24).toString('base64url');
  const { server: loopback, port: listening } = await listenOnLoopback(port).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EADDRINUSE' ? new UsageError(`port ${port} is in use; pick another with --port, or leave it out`) : error;
  });
  const redirectUri = `http://127.0.0.1:${listening}`;
  try {
    const url = new URL(`${endpoints.accounts}/o/oauth2/v2/auth`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      scope: flags.has('cloud-platform') ? `openid email ${CLOUD_PLATFORM_SCOPE}` : 'openid email',
      access_type: 'offline',
      prompt: 'consent',
      redirect_uri: redirectUri,
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    log(`Sign in with the account that should reach the app:\n\n  ${url.toString()}\n`);
    if (!flags.has('no-browser')) openBrowser(url.toString(), log);
    log(`Waiting up to ${timeoutS} s for the sign-in to come back to ${redirectUri} …`);
    const code = await waitForCode(loopback, state, timeoutS * 1000, log);

    const oauth = new OAuthTokenEndpoint(new Http({ log }));
    const clientOrigin = '--client-id and --client-secret';
    const { refreshToken, email } = await oauth.exchangeCode(endpoints.oauth2, {
      clientId,
      clientSecret,
      code,
      redirectUri,
      verifier,
      clientOrigin,
    });
    if (!refreshToken) {
      throw new ActionError(
        "Google returned no refresh token. Revoke the app's access at https://myaccount.google.com/permissions and sign in again.",
      );
    }
    if (audience) {
      const grant: RefreshTokenGrant = { clientId, clientSecret, refreshToken, origin: 'the refresh token', clientOrigin };
      await checkAudience(audience, () => oauth.refreshIdToken(endpoints.oauth2, grant, audience), log);
    }
    return instructions({ refreshToken, email }, clientId, audience);
  } finally {
    loopback.close();
  }
}

/**
 * Does the refresh token yield an ID token for the IAP client, as the action will ask? The same refresh grant the
 * action makes. A failure is a warning: the refresh token itself is good, and is still printed, never lost.
 */
async function checkAudience(audience: string, mint: () => Promise<string>, log: LogLine): Promise<void> {
  try {
    checkIdToken(await mint(), { audience, requireEmail: true, principal: undefined, now: Date.now() });
    log(`Checked: the refresh token yields ID tokens for ${audience}.`);
  } catch (error) {
    log(`warning: the refresh token does not yield an ID token for ${audience}: ${redact(explain(error))}`);
  }
}

/**
 * Resolves with the code of the first redirect that carries our `state`; a refusal or the timeout fail. A redirect
 * with another state (a stale tab, another local process) gets an error page and is logged, and the login keeps
 * waiting for the user's own: it must not end a sign-in still under way.
 */
function waitForCode(server: Server, state: string, timeoutMs: number, log: LogLine): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ActionError(`No sign-in came back within ${timeoutMs / 1000} s. Run login again (with --timeout for more time).`)),
      timeoutMs,
    );
    server.on('request', (req, res) => {
      let params: URLSearchParams;
      try {
        params = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (!params.has('code') && !params.has('error')) {
        res.writeHead(404).end();
        return;
      }
      const finish = (status: number, page: string, outcome: () => void) => {
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
        res.end(`<!doctype html><title>iap-token</title><p>${page}</p>`);
        clearTimeout(timer);
        outcome();
      };
      if (params.get('state') !== state) {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
        res.end('<!doctype html><title>iap-token</title><p>This sign-in does not belong to the login that is waiting; it was ignored.</p>');
        log("A sign-in answer without this login's state was ignored (a stale tab, or another program); still waiting for yours.");
      } else if (params.has('error')) {
        const error = params.get('error') ?? 'error';
        finish(400, 'Sign-in was not completed. You can close this tab.', () =>
          reject(
            new ActionError(
              error === 'access_denied'
                ? 'The sign-in was cancelled or consent was refused (access_denied).'
                : `Google refused the sign-in: ${error}.`,
            ),
          ),
        );
      } else {
        finish(200, 'Signed in. You can close this tab and return to the terminal.', () => resolve(params.get('code') ?? ''));
      }
    });
  });
}

function openBrowser(url: string, log: LogLine): void {
  // Windows: rundll32 opens the URL whole; `cmd /c start` would split it at every &.
  const [command, ...args] =
    process.platform === 'darwin'
      ? ['open', url]
      : process.platform === 'win32'
        ? ['rundll32', 'url.dll,FileProtocolHandler', url]
        : ['xdg-open', url];
  try {
    const child = spawn(command ?? 'xdg-open', args, { stdio: 'ignore', detached: true });
    child.on('error', () => log('(Could not open a browser; open the URL above yourself.)'));
    child.unref();
  } catch {
    log('(Could not open a browser; open the URL above yourself.)');
  }
}

function instructions(result: LoginResult, clientId: string, audience: string | undefined): string {
  return `Signed in${result.email ? ` as ${result.email}` : ''}. The refresh token, shown this once:

${result.refreshToken}

Store it and the client as repository secrets and variables (gh reads the secret's value from standard input):

  gh secret set IAP_REFRESH_TOKEN
  gh secret set DESKTOP_CLIENT_SECRET
  gh variable set DESKTOP_CLIENT_ID --body ${clientId}

Then, in a workflow:

  - uses: OWNER/iap-token@v1
    with:
      audience: ${audience ?? 'IAP_CLIENT_ID'}
      refresh_token: \${{ secrets.IAP_REFRESH_TOKEN }}
      oauth_client_id: \${{ vars.DESKTOP_CLIENT_ID }}
      oauth_client_secret: \${{ secrets.DESKTOP_CLIENT_SECRET }}
`;
}
