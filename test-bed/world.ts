import { FakeGoogle } from './fake-google/index.ts';

/**
 * The cast the tests, the demo, the benchmark and the workflow self-test share: a project, a key, a Workload Identity
 * provider and an IAP-protected app, wired as the README sets them up.
 */
export const PROJECT_NUMBER = '123456789012';
export const PROVIDER = `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/github-pool/providers/github`;
export const DEPLOYER = 'deployer@my-project.iam.gserviceaccount.com';
export const INVOKER = 'iap-invoker@my-project.iam.gserviceaccount.com';
export const RELAY = 'relay@my-project.iam.gserviceaccount.com';
/** The member a repository's jobs are granted roles as (attribute.repository mapped from GitHub's claim). */
export const REPO_MEMBER = `principalSet://iam.googleapis.com/projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/github-pool/attribute.repository/octo-org/deploy-app`;

export interface World {
  fake: FakeGoogle;
  deployerKey: Record<string, string>;
  audience: string;
}

/** DEPLOYER has a key; INVOKER and RELAY do not; both DEPLOYER and INVOKER may pass IAP. */
export async function startWorld(): Promise<World> {
  const fake = await new FakeGoogle().start();
  const { keyFile: deployerKey } = fake.addServiceAccount(DEPLOYER);
  fake.addServiceAccount(INVOKER);
  fake.addServiceAccount(RELAY);
  fake.addProvider(PROVIDER);
  fake.allow(`serviceAccount:${DEPLOYER}`);
  fake.allow(`serviceAccount:${INVOKER}`);
  return { fake, deployerKey, audience: fake.iap.clientId };
}
