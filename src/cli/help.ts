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

export const TOKEN_HELP = `Usage: iap-token token --audience AUDIENCE [options] [--exec -- COMMAND ARGS…]

Prints a token IAP accepts, and nothing else, on standard output:
  curl -H "Authorization: Bearer $(iap-token token --audience AUDIENCE)" https://app.example.com/
With --exec, runs COMMAND once with the token in IAP_TOKEN instead, and exits with its exit code; nothing
renews the token while it runs (an hour at most): for longer, use iap-token proxy.

Options:
  --audience AUDIENCE        the app's OAuth client ID; with --token-type signed_jwt, its URL (https://HOST/*)
  --token-type TYPE          id_token (default) or signed_jwt
  --lifetime SECONDS         a signed JWT's lifetime, 60 to 3600
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
  iap-token proxy --to https://app.example.com --token-type signed_jwt
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
  --audience AUDIENCE        the app's OAuth client ID; with --token-type signed_jwt it defaults to ORIGIN/*
  --token-type TYPE          id_token (default) or signed_jwt
  --listen HOST:PORT         where to listen (default 127.0.0.1:0, any free port); another address than loopback
                             lets anyone who reaches it through IAP as you
  --header NAME              authorization (default), or proxy-authorization for apps that read their own
                             Authorization header (the client's is then passed through untouched)
  --lifetime, --credentials-file, --refresh-token, --client-id, --client-secret, --service-account, --delegates:
                             as for iap-token token
  --help`;
