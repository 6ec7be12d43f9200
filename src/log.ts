import { endGroup, info, setFailed, startGroup, warning } from '@actions/core';
import { redact } from './secrets.ts';

// The one way the action writes to the job's log. The runner acts on `::command::` at the start of a line and on the
// legacy `##[command]` anywhere in one, and `stop-commands` switches masking off for what follows: so every line,
// whatever it quotes (a path, a server's text, a credentials file's field), passes `sanitize` first, and every
// secret known by then is redacted.

/** A zero-width space: it breaks a command's marker without changing what a person reads. */
const BREAK = '\u200b';

export function sanitize(text: string): string {
  return (
    redact(text)
      .split(/\r\n|\r|\n/)
      // The runner trims what .NET calls whitespace before a command, U+0085 (NEL) included, which \s is not.
      .map((line) => line.replace(/^([\s\u0085]*)::/, `$1:${BREAK}:`).replaceAll('##[', `#${BREAK}#[`))
      .join('\n')
  );
}

export const log = {
  info: (text: string): void => info(sanitize(text)),
  warning: (text: string): void => warning(sanitize(text)),
  /** The step's one error: it fails the step. */
  fail: (text: string): void => setFailed(sanitize(text)),
  group: (title: string, lines: readonly string[]): void => {
    startGroup(sanitize(title));
    for (const line of lines) info(sanitize(line));
    endGroup();
  },
};
