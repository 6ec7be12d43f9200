import type { Env } from '../env.ts';
import type { InputName, Vocabulary } from './vocabulary.ts';

/** What every input reader needs: the inputs (defaults applied), the environment, and the front door's words. */
export interface Context {
  readonly env: Env;
  readonly input: (name: InputName) => string;
  readonly words: Vocabulary;
  /** Throws the error for `name`, spelled as the front door spells it. */
  readonly fail: (name: InputName, problem: string) => never;
}
