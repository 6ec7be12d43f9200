import { describe, expect, test } from '@jest/globals';
import { createVerify } from 'node:crypto';
import { newSigningKey } from '../test-bed/fake-google/jwt.ts';

const masked: string[] = [];
const { registerSecret, redact, setMasker } = await import('../src/secrets.ts');
setMasker((value) => masked.push(value));
const { decodeJwt, signRs256 } = await import('../src/jwt.ts');
const { checkAccessToken, checkIdToken, describeMinted, kindOf } = await import('../src/tokens/check.ts');
const { grantsIapScopes, shownScopes } = await import('../src/google/answer.ts');
const { iapRefusal } = await import('../src/iap/answers.ts');
const { explainRefusal, refusalFix } = await import('../src/iap/refusals.ts');
const { cannotMintAccessToken } = await import('../src/credentials/iap-access.ts');
const { iamRemedy } = await import('../src/google/iam-credentials.ts');
const { ActionError, InputError, explain } = await import('../src/errors.ts');
const { isLoopback } = await import('../src/urls.ts');

describe('secrets', () => {
  test('a multi-line secret is masked whole and line by line; short lines are not', () => {
    masked.length = 0;
    registerSecret('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n-----END PRIVATE KEY-----\n');
    expect(masked).toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(masked).not.toContain('ab');
    expect(masked[0]).toContain('\n');
  });

  test('registering twice masks once; empty and tiny values are ignored', () => {
    masked.length = 0;
    registerSecret('ya29.token-value');
    registerSecret('ya29.token-value');
    registerSecret('');
    registerSecret(undefined);
    registerSecret('abc');
    expect(masked).toEqual(['ya29.token-value']);
  });

  test('redact removes every registered secret, longest first', () => {
    registerSecret('abcdef-secret');
    registerSecret('abcdef-secret-longer');
    expect(redact('x abcdef-secret-longer y abcdef-secret z')).toBe('x *** y *** z');
  });
});

describe('jwt', () => {
  const { privateKey, publicKey } = newSigningKey();

  test('signs RS256 with the key id, and decodes what it signed', () => {
    const token = signRs256({ iss: 'a@b.c', n: 1 }, privateKey, 'kid-1');
    const decoded = decodeJwt(token);
    expect(decoded).toEqual({ header: { alg: 'RS256', typ: 'JWT', kid: 'kid-1' }, claims: { iss: 'a@b.c', n: 1 } });
    const [h, p, s] = token.split('.');
    expect(
      createVerify('RSA-SHA256')
        .update(`${h}.${p}`)
        .verify(publicKey, Buffer.from(s ?? '', 'base64url')),
    ).toBe(true);
  });

  test.each(['', 'a.b', 'ya29.opaque-access-token', 'a.b.c.d', '"eyJ.eyJ.sig"', 'bm90.anNvbg.c2ln'])('%s is not a JWT', (token) => {
    expect(decodeJwt(token)).toBeUndefined();
  });
});

describe('checkIdToken', () => {
  const { privateKey } = newSigningKey();
  const now = 1_800_000_000_000;
  const token = (claims: Record<string, unknown>) =>
    signRs256({ aud: 'aud-1', exp: now / 1000 + 3600, email: 'sa@p.iam.gserviceaccount.com', ...claims }, privateKey);
  const expect_ = { audience: 'aud-1', requireEmail: true, principal: 'sa@p.iam.gserviceaccount.com', now };

  test('accepts a good token and reads principal and expiry from it', () => {
    const minted = checkIdToken(token({}), expect_);
    expect(minted).toMatchObject({ principal: 'sa@p.iam.gserviceaccount.com', audience: 'aud-1', kind: 'id_token' });
    expect(minted.expiresAt.getTime()).toBe(now + 3_600_000);
  });

  test.each([
    [{ aud: 'other' }, 'audience is "other"'],
    [{ exp: now / 1000 - 1 }, 'already expired'],
    [{ email: undefined }, 'no email claim'],
    [{ email: 'someone@else.com' }, 'is for someone@else.com'],
  ])('refuses %o', (claims, message) => {
    expect(() => checkIdToken(token(claims), expect_)).toThrow(message);
  });

  test('refuses what is not a JWT', () => {
    expect(() => checkIdToken('ya29.access', expect_)).toThrow('not a JWT');
  });

  test('without the email requirement, the principal comes from what was asked', () => {
    expect(checkIdToken(token({ email: undefined }), { ...expect_, requireEmail: false }).principal).toBe('sa@p.iam.gserviceaccount.com');
  });
});

describe('checkAccessToken', () => {
  const now = 1_800_000_000_000;
  const expect_ = { expiresAt: now + 3_599_000, principal: 'sa@p.iam.gserviceaccount.com', now };

  test('an opaque token: its kind, no audience, the principal asked for, the expiry Google gave', () => {
    const minted = checkAccessToken('ya29.a0AfB_opaque', expect_);
    expect(minted).toMatchObject({ kind: 'access_token', audience: '', principal: 'sa@p.iam.gserviceaccount.com' });
    expect(minted.expiresAt.getTime()).toBe(now + 3_599_000);
    expect(describeMinted(minted, now)).toBe(
      'Minted an access token for sa@p.iam.gserviceaccount.com, scopes openid and email (no audience), expires 2027-01-15T08:59:59Z (in 60 min).',
    );
  });

  test('a JWT in its place, an expired token, and a lifetime past 12 h', () => {
    const { privateKey } = newSigningKey();
    expect(() => checkAccessToken(signRs256({ aud: 'x' }, privateKey), expect_)).toThrow(
      'Google returned a JWT where an access token was asked for',
    );
    expect(() => checkAccessToken('ya29.x', { ...expect_, expiresAt: now })).toThrow('already expired');
    expect(checkAccessToken('ya29.x', { ...expect_, expiresAt: now + 48 * 3600_000 }).expiresAt.getTime()).toBe(now + 12 * 3600_000);
    expect(checkAccessToken('ya29.x', { ...expect_, principal: undefined }).principal).toBe('unknown');
  });

  test('each kind by its name', () => {
    expect(['id_token', 'signed_jwt', 'access_token'].map((kind) => kindOf(kind as 'id_token', 'a'))).toEqual([
      'an ID token',
      'a signed JWT',
      'an access token',
    ]);
    expect(kindOf('access_token', 'Capital')).toBe('Access token');
  });
});

describe("IAP's scopes for an access token", () => {
  test.each([
    ['openid email', true],
    ['openid https://www.googleapis.com/auth/userinfo.email', true],
    ['https://www.googleapis.com/auth/userinfo.email openid https://www.googleapis.com/auth/cloud-platform', true],
    ['openid', false],
    ['email', false],
    ['', false],
    ['openidemail', false],
  ])('%j holds both: %s', (scope, holds) => {
    expect(grantsIapScopes(scope)).toBe(holds);
  });

  test("a grant's scope as a log may show it: names only, at most ten", () => {
    expect(shownScopes('openid <script>alert(1)</script> email')).toBe('openid email');
    expect(shownScopes('')).toBe('none');
    expect(shownScopes(Array.from({ length: 20 }, (_, i) => `s${i}`).join(' ')).split(' ')).toHaveLength(10);
  });

  test('what IAP says to an access token: its scopes (read before the word email), and an app that takes none', () => {
    expect(iapRefusal(401, 'Invalid IAP credentials: Access token lacks the required openid and email scopes')).toBe('scope');
    expect(iapRefusal(401, 'Invalid IAP credentials: Unable to parse JWT')).toBe('parse');
    const context = { header: 'authorization', principal: 'a@b.c', kind: 'access_token' as const };
    expect(explainRefusal('parse', 'proxy', context)).toContain('this app does not take access tokens');
    expect(explainRefusal('parse', 'proxy', { ...context, kind: 'id_token' })).toContain('IAP did not receive a JWT');
    expect(refusalFix('scope', context)).toContain('lacks the openid and email scopes');
  });

  test('only a metadata server, without service_account, on what looks like a Compute Engine VM cannot mint one', () => {
    const vm = {
      kind: 'metadata',
      host: 'metadata.google.internal',
      origin: 'the metadata server',
      unreachable: '',
      otherwise: '',
    } as const;
    expect(cannotMintAccessToken(vm, undefined, {})).toContain('a Compute Engine VM');
    expect(cannotMintAccessToken(vm, 'sa@p.iam.gserviceaccount.com', {})).toBeUndefined();
    for (const name of ['K_SERVICE', 'CLOUD_RUN_JOB', 'GCE_METADATA_HOST']) {
      expect(cannotMintAccessToken(vm, undefined, { [name]: 'x' })).toBeUndefined();
    }
    // A pod may be on a GKE node without Workload Identity, whose server ignores ?scopes=: not believed.
    expect(cannotMintAccessToken(vm, undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toContain(
      'GCE_METADATA_HOST=metadata.google.internal',
    );
  });
});

describe('iamRemedy', () => {
  const caller = {
    principal: 'ci@p.iam.gserviceaccount.com',
    member: 'serviceAccount:ci@p.iam.gserviceaccount.com',
    federated: false,
    accessToken: async () => 'x',
  };
  const target = { serviceAccount: 'sa@p.iam.gserviceaccount.com', delegates: [] };
  const failure = (status: number, extra: Record<string, string> = {}) => ({ status, message: 'm', ...extra });

  test('a disabled API: the command that enables it', () => {
    expect(iamRemedy(failure(403, { reason: 'SERVICE_DISABLED' }), caller, target)).toContain(
      'gcloud services enable iamcredentials.googleapis.com',
    );
  });

  test('401 and 404 say what they mean', () => {
    expect(iamRemedy(failure(404), caller, target)).toContain('does not exist');
    expect(iamRemedy(failure(401), caller, target)).toContain('access token was refused');
    expect(iamRemedy(failure(400), caller, target)).toBeUndefined();
  });
});

describe('explain', () => {
  test('puts the remedy on its own line and hides stack traces of our own bugs', () => {
    expect(explain(new ActionError('It broke.', 'Fix: this.'))).toBe('It broke.\nFix: this.');
    expect(explain(new InputError('audience', 'is required'))).toBe('Input audience: is required');
    const bug = new TypeError('x is undefined');
    expect(explain(bug)).toBe('Unexpected error: x is undefined');
  });
});

test('loopback hosts', () => {
  expect(['localhost', '127.0.0.1', '127.1.2.3', '[::1]'].map(isLoopback)).toEqual([true, true, true, true]);
  expect(['10.0.0.1', 'example.com', '127.0.0.1.evil.com', 'localhost.evil.com'].map(isLoopback)).toEqual([false, false, false, false]);
});

describe('the log sanitiser', () => {
  test('breaks ::commands at the start of any line and ##[ anywhere; CR and LF become plain line breaks', async () => {
    const { sanitize } = await import('../src/log.ts');
    const out = sanitize('path ci/creds##[stop-commands]x/key.json\r::add-mask::x\n  ::set-output name=a::b\rend');
    expect(out).toBe('path ci/creds#\u200b#[stop-commands]x/key.json\n:\u200b:add-mask::x\n  :\u200b:set-output name=a::b\nend');
    expect(out).not.toMatch(/##\[|^\s*::/m);
  });

  test('redacts every secret known', async () => {
    const { sanitize } = await import('../src/log.ts');
    registerSecret('a-secret-value-123');
    expect(sanitize('before a-secret-value-123 after')).toBe('before *** after');
  });
});

test('redact also hides a secret URL-encoded, as a query or a form carries it', () => {
  registerSecret('1//0g-refresh+token/with=chars');
  expect(redact('code=x&refresh_token=1%2F%2F0g-refresh%2Btoken%2Fwith%3Dchars')).toBe('code=x&refresh_token=***');
});

test('the sanitiser also breaks a command after U+0085, which the runner trims as whitespace', async () => {
  const { sanitize } = await import('../src/log.ts');
  expect(sanitize('a\n\u0085::add-mask::x')).toBe('a\n\u0085:\u200b:add-mask::x');
});
