import type { TokenType } from '../config.ts';
import type { IapRefusal } from './answers.ts';

// What each of IAP's refusals means and what to change: the one table, in the words of each reader. The agent's
// proxy mints again by itself (`proxy`); a one-off trial such as the doctor's does not (`trial`, where its words
// differ); a step's smoke test names its inputs (`fix`, where a refusal has a fix of its own; the audience's needs the
// app's sign-in client and is worked out by src/smoke/diagnose.ts).

export interface RefusalContext {
  /** The header the token travelled in. */
  readonly header: string;
  /** Whom IAP refused: the token's principal. */
  readonly principal: string;
  readonly kind: TokenType;
}

interface RefusalWords {
  readonly proxy: (context: RefusalContext) => string;
  readonly trial?: string;
  readonly fix?: (context: RefusalContext) => string;
}

/** IAP's answer to an access token where the app does not take them: it wanted a JWT (older IAP deployments). */
export const NO_ACCESS_TOKENS = 'this app does not take access tokens: IAP read the token as a JWT and could not parse it.';

const REFUSALS: { readonly [kind in IapRefusal]: RefusalWords } = {
  expired: {
    proxy: () =>
      "IAP found the token expired or not yet valid: the agent mints a fresh one at once; if this persists, check this machine's clock.",
    trial: "IAP found the token expired or not yet valid, though it was just minted: check this machine's clock.",
    fix: () => "the token expired; check the runner's clock, or mint it closer to its use.",
  },
  audience: {
    proxy: () =>
      "IAP refused the token's audience: for an ID token use the OAuth client IAP uses for the app (or one on its programmaticClients); for a signed JWT, the app's URL as https://HOST/*.",
  },
  scope: {
    proxy: () => "IAP refused the access token's scopes: it takes one only with openid and https://www.googleapis.com/auth/userinfo.email.",
    fix: () =>
      'the access token lacks the openid and email scopes. A refresh token must come from a sign-in that granted them (iap-token login asks for both); a metadata server must honour ?scopes= (Cloud Run, GKE with Workload Identity; not a Compute Engine VM): else set service_account.',
  },
  email: {
    proxy: () => 'IAP refused an ID token without an email claim: mint it with include_email.',
    trial: 'IAP refused an ID token without an email claim.',
    fix: () => 'the ID token has no email claim; set include_email: true.',
  },
  signature: {
    proxy: () => 'IAP could not verify the token signature: the signing key may have been deleted; the agent mints again.',
    trial: "IAP could not verify the token's signature: for a signed JWT, the signing key may have been deleted.",
    fix: ({ kind, principal }) =>
      kind === 'signed_jwt'
        ? `IAP could not verify the JWT with ${principal}'s public keys; the signing key may have been deleted. Mint again.`
        : "the token is not signed by Google; pass the action's token output unchanged.",
  },
  parse: {
    proxy: ({ header, kind }) =>
      kind === 'access_token' ? NO_ACCESS_TOKENS : `IAP did not receive a JWT in the ${header} header: something on the way changed it.`,
    fix: ({ header, kind }) =>
      kind === 'access_token'
        ? `${NO_ACCESS_TOKENS} Use a signed JWT or an ID token instead: token_type signed_jwt or id_token (iap-token doctor URL shows which get through).`
        : `IAP did not receive a JWT in the ${header} header. Check smoke_test_headers and any proxy on the way.`,
  },
  empty: {
    proxy: ({ header }) => `IAP saw no token: something between the proxy and IAP strips the ${header} header.`,
    fix: ({ header }) =>
      `IAP saw no token: something between the runner and IAP strips the ${header} header (a proxy, a load balancer rule).`,
  },
  'sign-in': {
    proxy: ({ header }) => `IAP saw no token: something between the proxy and IAP strips the ${header} header.`,
  },
  forbidden: {
    proxy: ({ principal }) =>
      `IAP refused ${principal}: it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (minutes).`,
  },
  other: { proxy: () => 'IAP refused the request.' },
};

/** One line under IAP's refusal for a client of the agent's proxy (or its log), or for a one-off trial. */
export function explainRefusal(refusal: IapRefusal, reader: 'proxy' | 'trial', context: RefusalContext): string {
  const words = REFUSALS[refusal];
  return (reader === 'trial' ? words.trial : undefined) ?? words.proxy(context);
}

/** What a step changes for this refusal, when the refusal alone says; `undefined` when it does not. */
export function refusalFix(refusal: IapRefusal, context: RefusalContext): string | undefined {
  return REFUSALS[refusal].fix?.(context);
}
