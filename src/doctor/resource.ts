import { ACCESSOR } from '../iap/grants.ts';
/**
 * What kind of resource serves a URL, guessed from its host, and the IAP resource name its APIs use when the host
 * gives it away (a Cloud Run service's deterministic URL does) or the user named it. Everything else the doctor says
 * about the resource (gcloud flags, Terraform resources) follows from this one description.
 */
export interface IapResource {
  readonly kind: 'cloud-run' | 'app-engine' | 'backend-service' | 'unknown';
  /** How the doctor describes it. */
  readonly description: string;
  /** `projects/NUMBER/iap_web/…`, when known. */
  readonly name: string | undefined;
  readonly project: string | undefined;
  readonly service: string | undefined;
  readonly region: string | undefined;
  /** An App Engine app's ID (the project ID it was created in), when the resource name gives it. */
  readonly appId?: string;
}

/** SERVICE-PROJECT_NUMBER.REGION.run.app, Cloud Run's deterministic URL (the older SERVICE-HASH-CODE.a.run.app names no project). */
const RUN_APP = /^([a-z0-9-]{1,63})-(\d{6,20})\.([a-z0-9-]{1,40})\.run\.app$/;
const NAMED = /^projects\/([^/]+)\/iap_web\/([^/]+)(?:\/services\/([^/]+))?$/;

export function describeResource(url: URL, named: string | undefined): IapResource {
  const host = url.hostname.toLowerCase();
  if (named) return fromName(named);
  const run = RUN_APP.exec(host);
  if (run) {
    const [, service = '', project = '', region = ''] = run;
    return {
      kind: 'cloud-run',
      description: `a Cloud Run service (${service} in ${region}, project ${project}), from its run.app URL`,
      name: `projects/${project}/iap_web/cloud_run-${region}/services/${service}`,
      project,
      service,
      region,
    };
  }
  if (host.endsWith('.run.app'))
    return unnamed(
      'cloud-run',
      'a Cloud Run service, from its run.app URL (an older URL form that names no project: give the IAP resource to read its settings)',
    );
  if (host.endsWith('.appspot.com'))
    return unnamed('app-engine', 'an App Engine app, from its appspot.com URL (give the IAP resource to read its settings)');
  return unnamed(
    'backend-service',
    'a load balancer, most likely (a custom domain; IAP on its backend service): give the IAP resource to read its settings',
  );
}

function fromName(name: string): IapResource {
  const [, project, type = '', service] = NAMED.exec(name) ?? [];
  if (type.startsWith('cloud_run-')) {
    const region = type.slice('cloud_run-'.length);
    return { kind: 'cloud-run', description: `a Cloud Run service with IAP on it directly (${name})`, name, project, service, region };
  }
  if (type.startsWith('appengine-')) {
    const appId = type.slice('appengine-'.length);
    return { kind: 'app-engine', description: `an App Engine app (${name})`, name, project, service, region: undefined, appId };
  }
  if (type === 'compute' || type.startsWith('compute-')) {
    const region = type.startsWith('compute-') ? type.slice('compute-'.length) : undefined;
    return { kind: 'backend-service', description: `a load balancer's backend service (${name})`, name, project, service, region };
  }
  return { kind: 'unknown', description: `the IAP resource ${name}`, name, project, service, region: undefined };
}

function unnamed(kind: IapResource['kind'], description: string): IapResource {
  return { kind, description, name: undefined, project: undefined, service: undefined, region: undefined };
}

/** The gcloud flags that name this resource for `gcloud iap web …` and `gcloud iap settings …`. */
export function gcloudResourceFlags(resource: IapResource): string {
  const service = resource.service ?? 'SERVICE';
  const project = resource.project ? ` --project=${resource.project}` : '';
  switch (resource.kind) {
    case 'cloud-run':
      return `--resource-type=cloud-run --service=${service} --region=${resource.region ?? 'REGION'}${project}`;
    case 'app-engine':
      return `--resource-type=app-engine --service=${resource.service ?? 'default'}${project}`;
    case 'backend-service':
      return `--resource-type=backend-services --service=${resource.service ?? 'BACKEND_SERVICE'}${resource.region ? ` --region=${resource.region}` : ''}${project}`;
    case 'unknown':
      return `--resource-type=backend-services --service=BACKEND_SERVICE${project}`;
  }
}

/** A Terraform resource that grants roles/iap.httpsResourceAccessor to `member` on this resource. */
export function terraformAccessor(resource: IapResource, member: string): string {
  const project = resource.project ?? 'PROJECT_ID';
  const grant = { role: ACCESSOR, member };
  switch (resource.kind) {
    case 'cloud-run':
      return hcl('google_iap_web_cloud_run_service_iam_member', {
        project,
        location: resource.region ?? 'REGION',
        cloud_run_service_name: resource.service ?? 'SERVICE',
        ...grant,
      });
    case 'app-engine':
      return hcl('google_iap_app_engine_service_iam_member', {
        project,
        app_id: resource.appId ?? 'APP_ID',
        service: resource.service ?? 'default',
        ...grant,
      });
    default:
      // A regional backend service has a resource of its own in Terraform.
      if (resource.region) {
        return hcl('google_iap_web_region_backend_service_iam_member', {
          project,
          region: resource.region,
          web_region_backend_service: resource.service ?? 'BACKEND_SERVICE',
          ...grant,
        });
      }
      return hcl('google_iap_web_backend_service_iam_member', {
        project,
        web_backend_service: resource.service ?? 'BACKEND_SERVICE',
        ...grant,
      });
  }
}

/** One Terraform resource of string attributes, aligned as `terraform fmt` aligns them. */
export function hcl(type: string, attributes: Readonly<Record<string, string>>, name = 'iap_access'): string {
  const width = Math.max(...Object.keys(attributes).map((key) => key.length));
  const lines = Object.entries(attributes).map(([key, value]) => `  ${key.padEnd(width)} = ${JSON.stringify(value)}`);
  return [`resource "${type}" "${name}" {`, ...lines, '}'].join('\n');
}
