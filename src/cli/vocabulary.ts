import { InputError } from '../errors.ts';
import type { InputName, Vocabulary } from '../inputs/index.ts';

/** The flag each input of `readConfig` is given by on the command line; inputs without one keep their default. */
export const FLAG_OF: Partial<Record<InputName, string>> = {
  audience: '--audience',
  token_type: '--token-type',
  lifetime: '--lifetime',
  credentials_json: '--credentials-file',
  refresh_token: '--refresh-token',
  oauth_client_id: '--client-id',
  oauth_client_secret: '--client-secret',
  service_account: '--service-account',
  delegates: '--delegates',
  proxy_to: '--to',
  proxy_header: '--header',
  proxy_listen: '--listen',
  proxy_hosts: '--host',
  proxy_max_connections: '--max-connections',
  proxy_response_timeout: '--response-timeout',
  proxy_tunnel_idle_timeout: '--tunnel-idle-timeout',
  app_url: '--url',
  doctor_also: '--also',
  iap_resource: '--iap-resource',
};

/** The flags of `iap-token token` (and every command that mints): the credential and the token asked for. */
export const TOKEN_FLAGS = [
  '--url',
  '--audience',
  '--token-type',
  '--lifetime',
  '--credentials-file',
  '--refresh-token',
  '--client-id',
  '--client-secret',
  '--service-account',
  '--delegates',
];

const CREDENTIALS =
  'sign in with `gcloud auth application-default login` and run this again, pass --credentials-file KEY.json, or get a refresh token with `iap-token login` and pass it with --client-id (IAP_TOKEN_REFRESH_TOKEN and IAP_TOKEN_CLIENT_SECRET in the environment)';

/** A person at a terminal: flags, environment variables and the commands they can run there; no action inputs. */
export const CLI_VOCABULARY: Vocabulary = {
  name: (input) => FLAG_OF[input as InputName] ?? input,
  setting: (input, value) => `use ${FLAG_OF[input] ?? input} ${value}`,
  complain: (name, problem) => new InputError(name, problem, name),
  noCredential: (asked) =>
    `No credential was given, and none was found (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default credentials), so ${asked} was asked, and none answered: this machine is not on Google Cloud. To get a credential here, ${CREDENTIALS}.`,
  otherwise: `or give a credential instead: ${CREDENTIALS}.`,
};
