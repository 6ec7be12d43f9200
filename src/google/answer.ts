import { ActionError } from '../errors.ts';
import { registerSecret } from '../secrets.ts';

/** An access token and when it stops working (ms since the epoch), so that a long-lived caller knows when to renew it. */
export interface AccessToken {
  readonly token: string;
  readonly expiresAt: number;
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** Reads a token field from an answer and masks it before anyone can print it. */
export function secretField(answer: Record<string, unknown>, name: string, from: string): string {
  const value = answer[name];
  if (typeof value !== 'string' || !value) {
    throw new ActionError(`${from} answered without ${name} (fields: ${Object.keys(answer).join(', ') || 'none'}).`);
  }
  registerSecret(value);
  return value;
}

/**
 * When a token from an OAuth-style answer expires: its `expires_in` (seconds), else Google's usual hour. Read at
 * receipt, so the hour is counted from when the answer arrived.
 */
export function expiresAt(answer: Record<string, unknown>, now: number): number {
  const seconds = typeof answer['expires_in'] === 'number' ? answer['expires_in'] : Number(answer['expires_in']);
  return now + (Number.isFinite(seconds) && seconds > 0 ? seconds : 3600) * 1000;
}
