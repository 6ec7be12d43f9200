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

/** A whole number from `min` to `max`; empty takes `fallback`. `unit` says what it counts, for the error. */
export function readWholeNumber({ input, fail }: Context, name: InputName, unit: string, min: number, max: number): number {
  const value = input(name);
  const number = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) fail(name, `must be whole ${unit} from ${min} to ${max}, got ${quote(value)}`);
  return number;
}

/**
 * A URL input, parsed. A value that is no URL, or one with a user name or password, is refused without being quoted
 * back: it may hold a password. `accepted` says what the input takes.
 */
export function parseUrlInput({ fail }: Context, name: InputName, value: string, accepted: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(name, `must be ${accepted}; it is not a URL`);
  }
  if (url.username || url.password) return fail(name, `must be ${accepted}; it carries a user name or password`);
  return url;
}
