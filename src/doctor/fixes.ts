import { accessorGrant, iapServiceAgent, INVOKER, invokerGrant, memberOf } from '../iap/grants.ts';
import { kindOf } from '../tokens/check.ts';
import type { Problem, TokenTrial } from './report.ts';
import { gcloudResourceFlags, hcl, terraformAccessor, type IapResource } from './resource.ts';

// Each problem the doctor can name, with the gcloud line and the Terraform that fix it.

export function noIapProblem(url: string, status: number, resource: IapResource): Problem {
  const cloudRun = resource.kind === 'cloud-run';
  return {
    title: 'IAP is not in front of the app',
    why: `${url} answered ${status} to a request without any credential, without IAP's mark or sign-in redirect. Either the URL is not the app behind IAP (a typo, a staging host), or IAP is off for it.`,
    gcloud: cloudRun
      ? `gcloud run services update ${resource.service ?? 'SERVICE'} --region=${resource.region ?? 'REGION'} --iap`
      : `gcloud iap web enable ${gcloudResourceFlags(resource)}`,
    terraform: cloudRun
      ? `resource "google_cloud_run_v2_service" "app" {\n  # …\n  iap_enabled = true\n}`
      : `resource "google_compute_backend_service" "app" {\n  # …\n  iap {\n    enabled = true\n  }\n}`,
  };
}

export function bypassProblem(url: string, status: number, resource: IapResource): Problem {
  const service = resource.service ?? 'SERVICE';
  return {
    title: `A way around IAP: ${url}`,
    why: `${url} answered ${status} to a request without any credential, and not through IAP: anyone who finds it skips IAP. For a Cloud Run service behind a load balancer with IAP, allow only the load balancer's traffic in and no public invoker.`,
    gcloud: [
      `gcloud run services update ${service} --region=${resource.region ?? 'REGION'} --ingress=internal-and-cloud-load-balancing`,
      `gcloud run services remove-iam-policy-binding ${service} --region=${resource.region ?? 'REGION'} --member=allUsers --role=${INVOKER}`,
    ].join('\n'),
    terraform: `resource "google_cloud_run_v2_service" "app" {\n  # …\n  ingress = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"\n}\n# and no google_cloud_run_v2_service_iam_member with member = "allUsers"`,
  };
}

export function accessorProblem(principal: string, resource: IapResource, refused: boolean): Problem {
  const member = memberOf(principal);
  return {
    title: `No access through IAP for ${principal}`,
    why: refused
      ? `IAP accepted the token and refused ${principal} with 403: it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (about 2 minutes, sometimes 7 or more).`
      : `${member} does not hold roles/iap.httpsResourceAccessor in the app's IAP policy.`,
    gcloud: accessorGrant(gcloudResourceFlags(resource), member),
    terraform: terraformAccessor(resource, member),
  };
}

/** A 403 from behind IAP: for Cloud Run, IAP's service agent without run.invoker; elsewhere, the app's own refusal. */
export function behindProblem(resource: IapResource): Problem {
  if (resource.kind === 'cloud-run') return invokerProblem(resource);
  return {
    title: 'The app behind IAP refuses the caller',
    why: "IAP let the token through and the app answered 403 itself (not IAP's answer): the app checks the caller on its own (the X-Goog-IAP-JWT-Assertion header, the user's email), or a rule in front of it refuses.",
    gcloud: undefined,
    terraform: undefined,
  };
}

function invokerProblem(resource: IapResource): Problem {
  const agent = iapServiceAgent(resource.project);
  return {
    title: 'The service behind IAP refuses IAP',
    why: "IAP let the token through and the service behind it answered 403 (not IAP's answer). For Cloud Run with IAP, IAP's service agent needs roles/run.invoker on the service.",
    gcloud: invokerGrant(resource.service ?? 'SERVICE', resource.region ?? 'REGION', resource.project),
    terraform: hcl(
      'google_cloud_run_v2_service_iam_member',
      { name: resource.service ?? 'SERVICE', location: resource.region ?? 'REGION', role: INVOKER, member: agent },
      'iap_invoker',
    ),
  };
}

export function managedClientProblem(audience: string, ownClient: boolean, resource: IapResource): Problem {
  const yaml = `accessSettings:\n  oauthSettings:\n    programmaticClients:\n    - YOUR_CLIENT_ID.apps.googleusercontent.com`;
  return {
    title: ownClient
      ? "IAP refuses ID tokens for its own sign-in client (Google's managed OAuth client)"
      : `IAP refuses ID tokens for ${audience}`,
    why: ownClient
      ? `The ID token was for ${audience}, the client IAP signs people in with, and IAP refused its audience: the app is on Google's managed OAuth client, which accepts programmatic ID tokens only for clients on programmaticClients. A signed JWT needs no client (give a service account to sign); or allowlist an OAuth client of your own and mint ID tokens for it.`
      : `${audience} is neither the OAuth client IAP uses for this app nor on its programmaticClients list.`,
    gcloud: `cat > iap-settings.yaml <<'YAML'\n${yaml}\nYAML\ngcloud iap settings set iap-settings.yaml ${gcloudResourceFlags(resource)}`,
    terraform: `resource "google_iap_settings" "app" {\n  name = "${resource.name ?? 'projects/PROJECT_NUMBER/iap_web/compute/services/BACKEND_SERVICE_ID'}"\n  access_settings {\n    oauth_settings {\n      programmatic_clients = ["YOUR_CLIENT_ID.apps.googleusercontent.com"]\n    }\n  }\n}`,
  };
}

/** A kind that could not be minted: the mint's own error says why and carries its gcloud fix. */
export function mintProblem(trial: TokenTrial): Problem {
  const kind = kindOf(trial.kind, 'a');
  const [why = '', ...rest] = trial.why.split('\n');
  // Only a line that is a command is one: a gcloud mentioned inside a sentence stays in the sentence.
  const gcloud = rest.find((line) => /^\s*gcloud /.test(line))?.trim();
  // The gcloud line of an IAM refusal names the account and the member; the Terraform grants the same.
  const grant = /gcloud iam service-accounts add-iam-policy-binding (\S+) --member='?([^'\s]+)'? --role=(\S+)/.exec(gcloud ?? '');
  return {
    title: `Could not mint ${kind}`,
    why: [why, ...rest.map((line) => (/^\s*gcloud /.test(line) ? 'the gcloud line below.' : line.trim()))].join(' '),
    gcloud,
    terraform: grant
      ? hcl(
          'google_service_account_iam_member',
          { service_account_id: `projects/-/serviceAccounts/${grant[1] ?? ''}`, role: grant[3] ?? '', member: grant[2] ?? '' },
          'token_creator',
        )
      : undefined,
  };
}
