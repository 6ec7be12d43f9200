// npm run demo: the bundled action, end to end, against the local fake Google and its IAP-protected app. Each
// scenario prints the step's log as the runner would show it (masks applied), its outputs, and what the app answered.
import { DEPLOYER, INVOKER, PROVIDER, REPO_MEMBER, startWorld } from './world.ts';
import { runAction, type ActionRun } from './runner.ts';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);

const { fake, deployerKey: keyFile } = await startWorld();
const repoMember = REPO_MEMBER;

/** Requests to Google's and GitHub's endpoints, not to the app behind IAP (smoke tests, the doctor's trials). */
const googleRequests = () => fake.requests.filter((request) => !['iap', 'direct', 'public'].includes(request.endpoint)).length;

async function scenario(
  title: string,
  yaml: string,
  inputs: Record<string, string>,
  before: () => void = () => undefined,
  env: Record<string, string> = {},
): Promise<void> {
  console.log(`\n${bold(`▶ ${title}`)}`);
  console.log(
    dim(
      yaml
        .trim()
        .split('\n')
        .map((line) => `  ${line}`)
        .join('\n'),
    ),
  );
  before();
  const startCount = googleRequests();
  const result = await runAction(inputs, { env: { ...fake.env(), ...env } });
  console.log(bold('  log:'));
  for (const line of result.visibleLog.filter(Boolean)) console.log(`    ${line}`);
  report(result, googleRequests() - startCount);
  const token = result.outputs['token'];
  if (token) {
    const answer = await fetch(`${fake.appUrl}/`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
    console.log(`  ${bold('the IAP-protected app answered:')} HTTP ${answer.status} ${await answer.text()}`);
  }
}

function report(result: ActionRun, requests: number): void {
  const outcome = result.exitCode === 0 ? 'succeeded' : 'failed';
  console.log(`  ${bold(`step ${outcome}`)} in ${result.ms} ms, ${requests} request(s) to Google and GitHub`);
  for (const [name, value] of Object.entries(result.outputs)) {
    console.log(`    output ${name} = ${name === 'token' ? `*** (${value.length} characters, masked in the log)` : value}`);
  }
  for (const name of Object.keys(result.exportedEnv)) console.log(`    env ${name} = ***`);
  if (result.summary.includes('Smoke tests')) {
    console.log(`  ${bold('step summary (smoke tests):')}`);
    const rows = [...result.summary.matchAll(/<tr>(.*?)<\/tr>/g)].map((row) =>
      [...(row[1] ?? '').matchAll(/<t[dh]>(.*?)<\/t[dh]>/g)].map((cell) => cell[1]),
    );
    for (const row of rows.slice(2)) console.log(`    ${row.join('  ')}`);
  }
}

try {
  console.log(bold(`Fake Google and an IAP-protected app on ${fake.url}; the app's OAuth client is ${fake.iap.clientId}`));

  await scenario(
    "token_type auto (the default): only the app's URL; a signed JWT for https://HOST/*, signed locally by the key (no request to Google), then smoke-tested, and a DENY line checks that IAP refuses a stranger",
    `with:\n  credentials_json: \${{ secrets.GCP_SA_KEY }}\n  app_url: ${fake.appUrl}\n  smoke_test_urls: |\n    ${fake.appUrl}/healthz\n    DENY ${fake.appUrl}/admin`,
    {
      credentials_json: JSON.stringify(keyFile),
      app_url: fake.appUrl,
      smoke_test_urls: `${fake.appUrl}/healthz\nDENY ${fake.appUrl}/admin`,
    },
  );

  await scenario(
    'Service-account key, no impersonation, an ID token for the OAuth client: one request, no IAM role needed',
    `with:\n  audience: ${fake.iap.clientId}\n  credentials_json: \${{ secrets.GCP_SA_KEY }}`,
    { audience: fake.iap.clientId, credentials_json: JSON.stringify(keyFile) },
  );

  await scenario(
    'Workload Identity Federation, before the service account grants the repository workloadIdentityUser',
    `permissions: { id-token: write }\nwith:\n  audience: ${fake.iap.clientId}\n  workload_identity_provider: ${PROVIDER}\n  service_account: ${INVOKER}`,
    { audience: fake.iap.clientId, workload_identity_provider: PROVIDER, service_account: INVOKER },
  );

  await scenario(
    'Workload Identity Federation, after the grant: three requests (GitHub OIDC, STS, generateIdToken)',
    `permissions: { id-token: write }\nwith:\n  audience: ${fake.iap.clientId}\n  workload_identity_provider: ${PROVIDER}\n  service_account: ${INVOKER}`,
    { audience: fake.iap.clientId, workload_identity_provider: PROVIDER, service_account: INVOKER },
    () => fake.grant(INVOKER, repoMember, 'roles/iam.workloadIdentityUser'),
  );

  await scenario(
    'A Google outage: STS answers 503 twice, the action retries with backoff',
    `with:\n  audience: ${fake.iap.clientId}\n  workload_identity_provider: ${PROVIDER}\n  service_account: ${INVOKER}`,
    { audience: fake.iap.clientId, workload_identity_provider: PROVIDER, service_account: INVOKER },
    () => fake.inject('sts', { status: 503 }, { status: 503 }),
  );

  const user = fake.addUser('alice@example.com');
  fake.allow('user:alice@example.com');
  await scenario(
    "A person's refresh token from a desktop OAuth client: one request",
    `with:\n  audience: ${fake.iap.clientId}\n  refresh_token: \${{ secrets.IAP_REFRESH_TOKEN }}\n  oauth_client_id: \${{ vars.DESKTOP_CLIENT_ID }}\n  oauth_client_secret: \${{ secrets.DESKTOP_CLIENT_SECRET }}`,
    {
      audience: fake.iap.clientId,
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    },
  );

  fake.allowRun('user:alice@example.com');
  await scenario(
    "The same person, only the URL of a Cloud Run service with IAP on Google's managed client: Google mints no ID token of theirs for that client, so auto tries an access token (openid and email scopes) once, and IAP takes it",
    `with:\n  app_url: ${fake.runUrl}\n  refresh_token: \${{ secrets.IAP_REFRESH_TOKEN }}\n  oauth_client_id: \${{ vars.DESKTOP_CLIENT_ID }}\n  oauth_client_secret: \${{ secrets.DESKTOP_CLIENT_SECRET }}`,
    {
      app_url: fake.runUrl,
      refresh_token: user.refreshToken,
      oauth_client_id: user.clientId,
      oauth_client_secret: user.clientSecret,
    },
  );

  fake.metadata.serviceAccount = DEPLOYER;
  await scenario(
    'A self-hosted runner on GCE: no credential input, the metadata server answers in one request',
    `with:\n  audience: ${fake.iap.clientId}\n# GCE_METADATA_HOST=${fake.metadataHost} stands in for metadata.google.internal`,
    { audience: fake.iap.clientId },
    () => undefined,
    { GCE_METADATA_HOST: fake.metadataHost },
  );

  await scenario(
    'Post-deploy smoke test: three URLs side by side, one 503 on the way heals',
    `with:\n  audience: ${fake.iap.clientId}\n  credentials_json: \${{ secrets.GCP_SA_KEY }}\n  smoke_test_urls: |\n    ${fake.appUrl}/healthz\n    HEAD ${fake.appUrl}/\n    POST ${fake.appUrl}/api/ping`,
    {
      audience: fake.iap.clientId,
      credentials_json: JSON.stringify(keyFile),
      smoke_test_urls: `${fake.appUrl}/healthz\nHEAD ${fake.appUrl}/\nPOST ${fake.appUrl}/api/ping`,
    },
    () => fake.inject('iap', { status: 503 }),
  );

  const stranger = fake.addServiceAccount('new-deployer@my-project.iam.gserviceaccount.com');
  await scenario(
    'A smoke test IAP refuses: the account was never granted roles/iap.httpsResourceAccessor',
    `with:\n  audience: ${fake.iap.clientId}\n  credentials_json: \${{ secrets.NEW_SA_KEY }}\n  smoke_test_urls: ${fake.appUrl}/healthz\n  smoke_test_retry_for: 3`,
    {
      audience: fake.iap.clientId,
      credentials_json: JSON.stringify(stranger.keyFile),
      smoke_test_urls: `${fake.appUrl}/healthz`,
      smoke_test_retry_for: '3',
    },
  );

  fake.grant(fake.runIap.resource, `serviceAccount:${DEPLOYER}`, 'roles/iap.admin');
  await scenario(
    "doctor: true on a Cloud Run service with IAP on Google's managed OAuth client, whose run.app-style URL also answers around IAP",
    `with:\n  credentials_json: \${{ secrets.GCP_SA_KEY }}\n  app_url: ${fake.runUrl}\n  doctor: true\n  doctor_also: ${fake.directUrl}/\n  iap_resource: ${fake.runIap.resource}`,
    {
      credentials_json: JSON.stringify(keyFile),
      app_url: fake.runUrl,
      doctor: 'true',
      doctor_also: `${fake.directUrl}/`,
      iap_resource: fake.runIap.resource,
    },
  );

  await scenario(
    'A mistake in the workflow: the provider named with the project ID',
    `with:\n  workload_identity_provider: projects/my-project/locations/global/workloadIdentityPools/github-pool/providers/github`,
    {
      audience: fake.iap.clientId,
      workload_identity_provider: 'projects/my-project/locations/global/workloadIdentityPools/github-pool/providers/github',
      service_account: INVOKER,
    },
  );
} finally {
  await fake.stop();
}
