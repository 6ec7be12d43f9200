import { createSign, type KeyObject } from 'node:crypto';
import { parseJsonObject } from './json.ts';

/** The parts of a JWT we read. Signatures are Google's (or IAP's) to check, not ours. */
export interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
}

export function base64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/** Decodes a compact JWS without verifying it; `undefined` when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part))) return undefined;
  const header = parseSegment(parts[0] ?? '');
  const claims = parseSegment(parts[1] ?? '');
  return header && claims ? { header, claims } : undefined;
}

function parseSegment(segment: string): Record<string, unknown> | undefined {
  return parseJsonObject(Buffer.from(segment, 'base64url').toString('utf8'));
}

/** Signs claims as an RS256 JWT, the only algorithm Google's service-account keys use. */
export function signRs256(claims: object, key: KeyObject, keyId?: string): string {
  const header = keyId ? { alg: 'RS256', typ: 'JWT', kid: keyId } : { alg: 'RS256', typ: 'JWT' };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
  return `${signingInput}.${base64url(signature)}`;
}
