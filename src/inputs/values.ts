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
