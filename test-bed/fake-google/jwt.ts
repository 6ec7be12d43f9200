import { createPublicKey, createSign, createVerify, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

/** An RSA key pair with an id, as Google and GitHub publish theirs (the fake's signers and service-account keys). */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function newSigningKey(): SigningKey {
  // 2048 bits, like Google's keys; generation takes ~50 ms, so a fake makes a handful once.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: randomBytes(20).toString('hex'), privateKey, publicKey };
}

/** A private key in PEM (PKCS #8), as a key file carries it: a fresh one unless given. */
export function privateKeyPem(key: SigningKey = newSigningKey()): string {
  return key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * A service-account key file, as Google lets you download it, for `email` and its `key` (a fresh one unless given);
 * `fields` replace or add any (the fake's token_uri, a test's private_key_id). The fake's accounts' keys and the
 * tests' stand-alone keys are all made here.
 */
export function serviceAccountKeyFile(
  email: string,
  key: SigningKey = newSigningKey(),
  fields: Record<string, string> = {},
): Record<string, string> {
  return {
    type: 'service_account',
    project_id: email.split('@')[1]?.split('.')[0] ?? 'project',
    private_key_id: key.kid,
    private_key: privateKeyPem(key),
    client_email: email,
    client_id: '100000000000000000000',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
    universe_domain: 'googleapis.com',
    ...fields,
  };
}

export function sign(claims: Record<string, unknown>, key: SigningKey): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: key.kid, typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(key.privateKey, 'base64url');
  return `${header}.${payload}.${signature}`;
}

export interface ParsedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  readonly signingInput: string;
  readonly signature: Buffer;
}

export function parse(token: string): ParsedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const [h = '', p = '', s = ''] = parts;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims)) return undefined;
    return { header, claims, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
  } catch {
    return undefined;
  }
}

export function verify(jwt: ParsedJwt, publicKey: KeyObject | string): boolean {
  if (jwt.header['alg'] !== 'RS256') return false;
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return createVerify('RSA-SHA256').update(jwt.signingInput).verify(key, jwt.signature);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
