// The IAM grants IAP needs, as the gcloud lines that make them: one spelling for the smoke test's diagnosis and the
// doctor's fixes. (The doctor's Terraform for the same grants is in src/doctor/resource.ts and fixes.ts.)

/** The role IAP checks for on every request. */
export const ACCESSOR = 'roles/iap.httpsResourceAccessor';
export const INVOKER = 'roles/run.invoker';

/** The IAM member for an email: a service account's, or a user's. */
export function memberOf(email: string): string {
  return email.endsWith('.gserviceaccount.com') ? `serviceAccount:${email}` : `user:${email}`;
}

/** IAP's service agent in a project, which calls a Cloud Run service behind IAP; a placeholder without the number. */
export function iapServiceAgent(projectNumber: string | undefined): string {
  const number = projectNumber && /^\d+$/.test(projectNumber) ? projectNumber : 'PROJECT_NUMBER';
  return `serviceAccount:service-${number}@gcp-sa-iap.iam.gserviceaccount.com`;
}

/** Grants `member` access through IAP on the resource `resourceFlags` names (gcloud's --resource-type and its flags). */
export function accessorGrant(resourceFlags: string, member: string): string {
  return `gcloud iap web add-iam-policy-binding ${resourceFlags} --member=${member} --role=${ACCESSOR}`;
}

/** Lets IAP's service agent call a Cloud Run service behind IAP. */
export function invokerGrant(service: string, region: string, projectNumber: string | undefined): string {
  return `gcloud run services add-iam-policy-binding ${service} --region=${region} --member=${iapServiceAgent(projectNumber)} --role=${INVOKER}`;
}
