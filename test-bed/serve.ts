// Starts the fake Google for a workflow's self-test (`uses: ./` in .github/workflows/ci.yml) and keeps it running
// until the job ends. It appends the endpoint overrides and the runner's OIDC variables to $GITHUB_ENV, and sets
// step outputs the workflow passes to the action: the IAP client (audience), a service-account key, the WIF
// provider and service account, and the app's URL.
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { INVOKER, PROVIDER, REPO_MEMBER, startWorld } from './world.ts';

const { fake, deployerKey, audience } = await startWorld();
fake.grant(INVOKER, REPO_MEMBER, 'roles/iam.workloadIdentityUser');
fake.grant(INVOKER, `serviceAccount:${INVOKER}`, 'roles/iam.serviceAccountTokenCreator');

function append(file: string | undefined, entries: Record<string, string>): void {
  if (!file) return;
  for (const [name, value] of Object.entries(entries)) {
    const delimiter = `EOF_${randomUUID()}`;
    appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
  }
}

// The fake's GitHub OIDC endpoint stands in for the runner's: the self-test job needs no id-token permission.
append(process.env['GITHUB_ENV'], fake.env());
append(process.env['GITHUB_OUTPUT'], {
  audience,
  credentials_json: JSON.stringify(deployerKey),
  provider: PROVIDER,
  service_account: INVOKER,
  app_url: fake.appUrl,
});
console.log(`Fake Google on ${fake.url} (HTTPS on port ${fake.httpsPort}); stop with SIGTERM.`);
const stop = () => void fake.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
