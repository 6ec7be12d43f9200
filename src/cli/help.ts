// The help of each command, apart from its code, so that `iap-token CMD --help` loads none of it.

export const LOGIN_HELP = `Usage: iap-token login --client-id ID [--client-secret SECRET] [--audience IAP_CLIENT_ID] [--cloud-platform] [--port N] [--no-browser]

Signs you in with a desktop OAuth client, as Google's IAP page describes with netcat and curl, in one command, and
prints the refresh token the action's refresh_token input takes.

Options:
  --client-id ID          the desktop OAuth client (Google Cloud console: APIs & Services > Credentials)
  --client-secret SECRET  better: set IAP_TOKEN_CLIENT_SECRET (kept out of shell history and process lists)
  --audience ID           the OAuth client ID IAP uses for the app: checks that the sign-in yields a token for it
  --port N                the loopback port for Google's redirect (default: any free port)
  --timeout SECONDS       how long to wait for the sign-in (default 300)
  --cloud-platform        also ask for the cloud-platform scope, which impersonation (service_account) needs
  --no-browser            only print the sign-in URL
  --help`;

export const TOKEN_HELP = `Usage: iap-token token (--url APP_URL | --audience AUDIENCE) [options] [--exec -- COMMAND ARGS…]

Prints a token IAP accepts, and nothing else, on standard output:
  curl -H "Authorization: Bearer $(iap-token token --url https://app.example.com)" https://app.example.com/
With --exec, runs COMMAND once with the token in IAP_TOKEN instead, and exits with its exit code; nothing
renews the token while it runs (an hour at most): for longer, use iap-token proxy.

Options:
  --url APP_URL              the app behind IAP: the token kind and audience are found from it (a signed JWT for
                             https://HOST/*; with a user's refresh token, an ID token for IAP's sign-in client)
  --audience AUDIENCE        instead: the app's URL (https://HOST/*, a signed JWT) or its OAuth client ID (an ID token)
  --token-type TYPE          auto (default: from the audience or URL), id_token, signed_jwt or access_token
                             (openid and email scopes, no audience; for apps whose IAP takes access tokens)
  --lifetime SECONDS         a signed JWT's lifetime, 60 to 3600 (default 3600)
  --credentials-file PATH    a credentials JSON file of any type (service-account key, authorized_user, …)
  --refresh-token TOKEN      a refresh token, with --client-id and --client-secret (see: iap-token login);
                             better: IAP_TOKEN_REFRESH_TOKEN in the environment
  --client-id ID             the desktop OAuth client that issued the refresh token
  --client-secret SECRET     better: IAP_TOKEN_CLIENT_SECRET in the environment
  --service-account EMAIL    mint the token for this service account (impersonation)
  --delegates EMAILS         the delegation chain to it, comma-separated
  --exec -- COMMAND ARGS…    run COMMAND with IAP_TOKEN set
  --help

With no credential option: GOOGLE_APPLICATION_CREDENTIALS, else gcloud's application default credentials
(gcloud auth application-default login), else the metadata server. The same code as the GitHub Action mints it.`;

export const PROXY_HELP = `Usage: iap-token proxy --to ORIGIN [--audience AUDIENCE] [--token-type TYPE] [--listen 127.0.0.1:PORT]
                       [--header authorization|proxy-authorization] [credential options]
       iap-token proxy --forward --host HOST [--host HOST …] [same options]

Serves http://127.0.0.1:PORT and sends every request to ORIGIN through IAP with a token it keeps fresh (it mints
again before each one expires), for test suites, load tests and tools that cannot set a header:
  iap-token proxy --to https://app.example.com
  curl http://127.0.0.1:PORT/api/health
It runs until Ctrl-C (SIGINT) or SIGTERM. GET /.iap-token/healthz answers whether it has a token.

With --forward it is a forward proxy for a browser instead (--proxy-server=http://127.0.0.1:PORT): it adds the
token for the named hosts only, with a certificate from a CA it makes for this run (the CA's PEM file is printed;
its key stays in memory), and tunnels every other host untouched:
  Forward proxy http://127.0.0.1:PORT (CA: /tmp/iap-token-proxy-…/ca.pem)

Options:
  --to ORIGIN                the app's origin, https://HOST[:PORT], no path
  --forward                  a forward proxy for browsers, for the hosts given with --host
  --host HOST                with --forward: a host behind IAP (or *.example.com); repeat for more
  --audience AUDIENCE        default: ORIGIN/* (a signed JWT); an OAuth client ID gives an ID token
  --token-type TYPE          auto (default), id_token, signed_jwt or access_token
  --listen HOST:PORT         where to listen (default 127.0.0.1:0, any free port); another address than loopback
                             lets anyone who reaches it through IAP as you
  --header NAME              authorization (default), or proxy-authorization for apps that read their own
                             Authorization header (the client's is then passed through untouched)
  --lifetime, --credentials-file, --refresh-token, --client-id, --client-secret, --service-account, --delegates:
                             as for iap-token token
  --help`;

export const DOCTOR_HELP = `Usage: iap-token doctor URL [--also URL …] [--iap-resource NAME] [--json] [--fail-on-problem] [credential options]

Diagnoses the IAP set-up of the app at URL, in layers, each saying what it checked:
  1. without credentials: is IAP in front (its mark, its sign-in redirect)? which OAuth client? what resource?
     and each --also URL (e.g. a Cloud Run service's run.app URL): does it answer around IAP?
  2. with your credential: mints an ID token and a signed JWT, sends each to URL, shows what was sent (aud, email,
     exp; never the token) and why IAP refused it, if it did
  3. with read access: the app's IAP settings (its OAuth client, programmaticClients) and IAM policy; each read is
     skipped, with the permission it needs, when not allowed
It ends with a verdict (the token type and audience to use) and each problem with a gcloud line and Terraform.
Exit status: 0 when a token got through IAP, 1 when none did (or, with --fail-on-problem, when any problem was
found), 2 for a usage error.

Options:
  --also URL                 another URL of the app that must not answer without IAP; repeat for more (10 at most)
  --iap-resource NAME        projects/PROJECT_NUMBER/iap_web/… to read settings and policy (found for run.app URLs)
  --json                     the report as JSON, for machines
  --fail-on-problem          exit 1 on any problem, a way around IAP included, even when a token got through
  --audience ID              an OAuth client ID to try ID tokens for (default: the one IAP's sign-in names)
  --credentials-file, --refresh-token, --client-id, --client-secret, --service-account, --delegates, --lifetime:
                             as for iap-token token
  --help`;
