import type { FakeGoogle, Reply, Req } from './server.ts';

const PREFIX = '/computeMetadata/v1/instance/service-accounts/default/';
const FLAVOR = { 'metadata-flavor': 'Google' };

/** The GCE metadata server's service-account endpoints, for a VM whose default service account is configured. */
export function handleMetadata(fake: FakeGoogle, req: Req): Reply {
  if (req.headers['metadata-flavor'] !== 'Google') {
    return { status: 403, headers: FLAVOR, body: 'Missing required header: Metadata-Flavor' };
  }
  const email = fake.metadata.serviceAccount;
  const account = email ? fake.serviceAccounts.get(email) : undefined;
  if (!req.path.startsWith(PREFIX) || !account) return { status: 404, headers: FLAVOR, body: 'Not Found' };
  switch (req.path.slice(PREFIX.length)) {
    case 'email':
      return { status: 200, headers: { ...FLAVOR, 'content-type': 'application/text' }, body: account.email };
    case 'token': {
      // A Compute Engine VM's server ignores ?scopes= and gives the VM's access scopes (here: cloud-platform).
      const asked = req.query.get('scopes');
      const scopes = fake.metadata.honoursScopes && asked ? asked.split(',') : ['https://www.googleapis.com/auth/cloud-platform'];
      const accessToken = fake.issueAccessToken({ kind: 'serviceAccount', email: account.email, scopes });
      return {
        status: 200,
        headers: FLAVOR,
        body: { access_token: accessToken, expires_in: fake.accessTokenLifetimeS, token_type: 'Bearer' },
      };
    }
    case 'identity': {
      const audience = req.query.get('audience');
      if (!audience) return { status: 400, headers: FLAVOR, body: 'non-empty audience parameter required' };
      // Only format=full adds the email claim, which IAP needs.
      return {
        status: 200,
        headers: { ...FLAVOR, 'content-type': 'text/html' },
        body: fake.issueIdToken(account, audience, req.query.get('format') === 'full'),
      };
    }
    default:
      return { status: 404, headers: FLAVOR, body: 'Not Found' };
  }
}
