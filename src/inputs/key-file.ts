import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { ServiceAccountKey } from '../config.ts';
import { isEmail } from '../email.ts';
import { checkFileUrl } from '../endpoints.ts';
import type { Complain } from '../errors.ts';
import { parseJsonObject } from '../json.ts';
import { registerSecret } from '../secrets.ts';

/**
 * Parses `credentials_json`: the key file's JSON, or base64 of it (how many teams store it as a secret). The raw value
 * and the private key are masked before anything else happens, and no error quotes any part of them.
 */
export function parseCredentialsJson(raw: string, input: string, complain: Complain): Record<string, unknown> {
  registerSecret(raw, { perLine: false });
  const text = raw.trim();
  const json = parseObject(text) ?? (isBase64(text) ? parseObject(Buffer.from(text, 'base64').toString('utf8')) : undefined);
  if (!json) {
    throw complain(input, 'is neither JSON nor base64-encoded JSON. Paste the whole key file (or its base64) into a secret.');
  }
  registerSecretFields(json);
  return json;
}

/**
 * Masks the fields that are secret, at any depth (an impersonated_service_account file nests its source's key, an
 * external_account file its request headers); the rest (emails, ids, URLs) are useful in logs and not worth hiding.
 */
function registerSecretFields(value: unknown, depth = 0): void {
  if (!value || typeof value !== 'object' || depth > 5) return;
  for (const [field, inner] of Object.entries(value)) {
    if (typeof inner === 'string' && SECRET_FIELDS.includes(field)) registerSecret(inner.replace(/\\n/g, '\n'));
    else registerSecretFields(inner, depth + 1);
  }
}

/** Secret fields of every credentials file type we read: keys, OAuth client secrets, refresh tokens. */
const SECRET_FIELDS = ['private_key', 'client_secret', 'refresh_token'];

export function parseServiceAccountKey(json: Record<string, unknown>, input: string, complain: Complain): ServiceAccountKey {
  const missing = ['client_email', 'private_key'].filter((field) => typeof json[field] !== 'string' || !json[field]);
  if (missing.length > 0) {
    throw complain(input, `the service-account key lacks ${missing.join(' and ')}. Use the JSON key file as downloaded from Google Cloud.`);
  }
  const clientEmail = json['client_email'] as string;
  if (!isEmail(clientEmail)) throw complain(input, 'client_email is not an email address.');
  let privateKey: KeyObject;
  try {
    // Keys pasted through some shells arrive with literal "\n" sequences instead of newlines.
    privateKey = createPrivateKey((json['private_key'] as string).replace(/\\n/g, '\n'));
  } catch {
    throw complain(input, 'private_key is not a PEM-encoded private key (-----BEGIN PRIVATE KEY-----).');
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw complain(input, 'private_key is not an RSA key; Google service-account keys are RSA.');
  }
  const tokenUri = typeof json['token_uri'] === 'string' && json['token_uri'] ? json['token_uri'] : undefined;
  // The signed assertion is posted there, and the token comes back from there.
  if (tokenUri) checkFileUrl(tokenUri, input, 'token_uri', complain);
  const privateKeyId = typeof json['private_key_id'] === 'string' && json['private_key_id'] ? json['private_key_id'] : undefined;
  return { clientEmail, privateKey, privateKeyId, tokenUri };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  return text.startsWith('{') ? parseJsonObject(text) : undefined;
}

/** Base64 (or base64url) with any line breaks; checked in linear time, whitespace first removed. */
function isBase64(text: string): boolean {
  const compact = text.replace(/\s/g, '');
  return compact.length > 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact);
}
