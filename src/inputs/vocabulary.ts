import { complainAsAction, type Complain } from '../errors.ts';
import type { Env } from '../env.ts';

/**
 * The inputs `readConfig` reads, each with the default action.yml declares for it (a test keeps the two equal). An
 * input that is not given at all takes its default; one given as the empty string means "none" (no export, …).
 */
export const INPUT_DEFAULTS = {
  audience: '',
  token_type: 'auto',
  app_url: '',
  lifetime: '',
  workload_identity_provider: '',
  workload_identity_audience: '',
  credentials_json: '',
  refresh_token: '',
  oauth_client_id: '',
  oauth_client_secret: '',
  service_account: '',
  delegates: '',
  include_email: 'true',
  export_variable: 'IAP_TOKEN',
  universe: 'googleapis.com',
  smoke_test_urls: '',
  smoke_test_header: 'authorization',
  smoke_test_headers: '',
  smoke_test_expected_status: '200-299',
  smoke_test_retry_for: '300',
  smoke_test_timeout: '30',
  keep_fresh: 'false',
  proxy_to: '',
  proxy_header: 'authorization',
  proxy_listen: '127.0.0.1:0',
  proxy_hosts: '',
  proxy_max_connections: '1000',
  proxy_response_timeout: '120',
  proxy_tunnel_idle_timeout: '120',
  doctor: 'false',
  doctor_fail_on_problem: 'false',
  doctor_also: '',
  iap_resource: '',
} as const;

export type InputName = keyof typeof INPUT_DEFAULTS;

/** How a front door hands over what the user gave: the value of an input, or `undefined` when it was not given. */
export type InputReader = (name: InputName) => string | undefined;

/**
 * How a front door speaks about what the user gave, so that every error names what they can change there: the
 * action's inputs (`token_type`), or the CLI's flags (`--token-type`) and the commands a person at a terminal has.
 */
export interface Vocabulary {
  /** An input as the user spells it here; an environment variable is spelled the same everywhere. */
  readonly name: (input: string) => string;
  /** "set token_type: signed_jwt" in a workflow, "add --token-type signed_jwt" on a command line. */
  readonly setting: (input: InputName, value: string) => string;
  /** Builds the error for one input (already spelled with `name`). */
  readonly complain: Complain;
  /** What to tell someone who gave no credential and whom no metadata server answered. */
  readonly noCredential: (asked: string) => string;
  /** The same advice as a closing clause for other metadata-server failures. */
  readonly otherwise: string;
}

const ACTION_CREDENTIALS =
  'workload_identity_provider, credentials_json, or refresh_token with oauth_client_id and oauth_client_secret (or set GOOGLE_APPLICATION_CREDENTIALS)';

/** The action's words: input names, as the workflow's `with:` spells them. */
export const ACTION_VOCABULARY: Vocabulary = {
  name: (input) => input,
  setting: (input, value) => `set ${input}: ${value}`,
  complain: complainAsAction,
  noCredential: (asked) =>
    `No credential input is set, so the action asked ${asked}, and none answered: this runner is not on Google Cloud. Give the action a credential: ${ACTION_CREDENTIALS}.`,
  otherwise: `or give the action a credential: ${ACTION_CREDENTIALS}.`,
};

/** Every input as `read` gives it (`undefined`: not given), for a process that reads them again (the token agent). */
export function givenInputs(read: InputReader): Partial<Record<InputName, string>> {
  return Object.fromEntries((Object.keys(INPUT_DEFAULTS) as InputName[]).map((name) => [name, read(name)]));
}

/** What the runner does for `with:`: `INPUT_<NAME>`, upper-cased, trimmed; an input the runner did not set is not given. */
export function actionInputs(env: Env): InputReader {
  return (name) => env[`INPUT_${name.toUpperCase()}`]?.trim();
}
