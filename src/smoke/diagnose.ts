import type { Http, HttpResponse } from '../http/client.ts';
import { decodeJwt } from '../jwt.ts';
import type { MintedToken } from '../tokens/check.ts';
import type { SmokeConfig, SmokeTarget } from '../config.ts';
import { answeredByIap, iapRefusal } from '../iap/answers.ts';
import { accessorGrant, invokerGrant, memberOf } from '../iap/grants.ts';
import { probeIap } from '../iap/probe.ts';
import { refusalFix } from '../iap/refusals.ts';

interface Failed {
  readonly target: SmokeTarget;
  readonly response: HttpResponse | undefined;
  /** Why no answer came, when none did. */
  readonly failure: string | undefined;
  readonly minted: MintedToken;
  readonly config: SmokeConfig;
  readonly http: Http;
}

/** What went wrong with one target and what to change, from IAP's answer (or the app's, or none). */
export async function diagnose(failed: Failed): Promise<string> {
  const { response, failure, config } = failed;
  const window = `${config.retryForMs / 1000} s`;
  if (!response) return `No answer within the retry window (${window}): ${failure ?? 'unknown error'}.`;
  const { status } = response;
  if (answeredByIap(response.headers)) {
    if (status === 401) return iapRefusedToken(failed, response);
    if (status === 403) return iapForbidden(failed.minted.principal, window);
    if (status >= 300 && status < 400) {
      return `IAP redirected to its sign-in page: it did not see the token. Check that nothing between the runner and IAP strips the ${config.header} header.`;
    }
    return `IAP answered ${status}, which smoke_test_expected_status (${config.expected.text}) does not accept.`;
  }
  if (status === 403) {
    return [
      'The request passed IAP, and the app (or the service behind IAP) refused it with 403.',
      'Fix: for Cloud Run behind IAP, the IAP service agent needs roles/run.invoker on the service:',
      `  ${invokerGrant('SERVICE', 'REGION', undefined)}`,
    ].join('\n');
  }
  if (status === 401) {
    const hint =
      config.header === 'authorization'
        ? " If the app checks its own Authorization header, set smoke_test_header: proxy-authorization and send the app's credential in smoke_test_headers."
        : '';
    return `The request passed IAP, and the app refused it with 401 (its own authentication).${hint}`;
  }
  if (status >= 300 && status < 400) {
    const location = String(response.headers['location'] ?? '');
    return `The app redirected to ${safeLocation(location)}; redirects are not followed (the token would travel on). Call the final URL, or add ${status} to smoke_test_expected_status.`;
  }
  if (status >= 500 || status === 429 || status === 408) {
    return `The app kept answering ${status} for the whole retry window (${window}).`;
  }
  return `The app answered ${status}, which smoke_test_expected_status (${config.expected.text}) does not accept.`;
}

function iapForbidden(principal: string, window: string): string {
  return [
    `IAP refused ${principal} with 403 for the whole retry window (${window}): it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (it can take 7 minutes or more; raise smoke_test_retry_for).`,
    "Fix: grant it on the app's backend service (or --resource-type=cloud-run --service=SERVICE --region=REGION):",
    `  ${accessorGrant('--resource-type=backend-services --service=BACKEND_SERVICE', memberOf(principal))}`,
  ].join('\n');
}

async function iapRefusedToken(failed: Failed, response: HttpResponse): Promise<string> {
  const { minted, config } = failed;
  const said = response.body.trim().slice(0, 200);
  const quoted = `IAP refused the token with 401: "${said}".`;
  const refusal = iapRefusal(response.status, said);
  if (refusal !== 'audience') {
    const fix = refusalFix(refusal, { header: config.header, principal: minted.principal, kind: minted.kind });
    return fix ? `${quoted}\nFix: ${fix}` : quoted;
  }
  if (minted.kind === 'signed_jwt') {
    return `${quoted}\nFix: the signed JWT's audience ${minted.audience} does not cover the URL IAP saw; use https://HOST/* as audience.`;
  }
  const clientId = await signInClientId(failed);
  const claim = decodeJwt(minted.token)?.claims['aud'];
  const aud = typeof claim === 'string' ? claim : minted.audience;
  const url = new URL(failed.target.url);
  if (clientId && clientId === aud) {
    return `${quoted}\nFix: the token is for ${aud}, the very client IAP signs people in with, and IAP still refuses it: this app is on Google's managed OAuth client, which refuses programmatic ID tokens unless their client is on the app's programmaticClients list. Use token_type: signed_jwt with audience ${url.origin}/* (it needs no OAuth client), or allowlist an OAuth client you own and mint for it (iap-token doctor ${url.origin} shows both).`;
  }
  const expected = clientId
    ? `IAP on this app uses the OAuth client ${clientId}, and the token's audience is ${aud}. Set audience: ${clientId}, or add ${aud} to the app's programmaticClients allowlist`
    : `The token's audience ${aud} is not the OAuth client IAP uses for this app, nor on its programmaticClients allowlist. Use that client ID as audience`;
  return `${quoted}\nFix: ${expected}; or, with no OAuth client at all, token_type: signed_jwt with audience ${url.origin}/*.`;
}

/**
 * The OAuth client IAP uses, from the sign-in redirect of an unauthenticated request. One request, made only to
 * explain an audience refusal, and without the token.
 */
async function signInClientId(failed: Failed): Promise<string | undefined> {
  const probe = await probeIap(failed.http, failed.target.url, { retry: { attempts: 1, timeoutMs: failed.config.timeoutMs } });
  return probe.clientId;
}

function safeLocation(location: string): string {
  try {
    const url = new URL(location);
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'another location';
  }
}
