import type { TokenHeader } from '../config.ts';
import { quote } from '../errors.ts';
import type { Context } from './context.ts';
import type { InputName } from './vocabulary.ts';

/** true or false (any case); empty takes `fallback`. */
export function readBoolean({ fail }: Context, value: string, name: InputName, fallback: boolean): boolean {
  if (!value) return fallback;
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  return fail(name, `must be true or false, got ${quote(value)}`);
}

/** The header a token travels in: authorization (the default) or proxy-authorization, in any case. */
export function readTokenHeader({ input, fail }: Context, name: 'proxy_header' | 'smoke_test_header'): TokenHeader {
  const value = input(name);
  const header = value.toLowerCase() || 'authorization';
  if (header === 'authorization' || header === 'proxy-authorization') return header;
  return fail(name, `must be authorization or proxy-authorization (for apps that use their own Authorization header), got ${quote(value)}`);
}

/** A whole number from `min` to `max`; empty takes `fallback`. `unit` says what it counts, for the error. */
export function readWholeNumber({ input, fail }: Context, name: InputName, unit: string, min: number, max: number): number {
  const value = input(name);
  const number = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) fail(name, `must be whole ${unit} from ${min} to ${max}, got ${quote(value)}`);
  return number;
}

/** What a URL input's two refusals say (after the input's name), where `must be <accepted>` does not fit. */
export interface UrlRefusals {
  readonly notUrl: string;
  readonly userinfo: string;
}

/**
 * A URL input, parsed: the one way every URL input is read. A value that is no URL, or one with a user name or
 * password, is refused without being quoted back: it may hold a password. `accepted` says what the input takes, or
 * gives both refusals in full.
 */
export function parseUrlInput({ fail }: Context, name: InputName, value: string, accepted: string | UrlRefusals): URL {
  const refusals =
    typeof accepted === 'string'
      ? { notUrl: `must be ${accepted}; it is not a URL`, userinfo: `must be ${accepted}; it carries a user name or password` }
      : accepted;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(name, refusals.notUrl);
  }
  if (url.username || url.password) return fail(name, refusals.userinfo);
  return url;
}
