import { describe, expect, test } from '@jest/globals';
import { complainAsAction } from '../src/errors.ts';
import { snippet } from '../src/http/failures.ts';
import { googleFailure as parseFailure } from '../src/google/failure.ts';
import { iapRefusal } from '../src/iap/answers.ts';
import { parseCredentialsJson } from '../src/inputs/key-file.ts';
import { decodeJwt } from '../src/jwt.ts';
import { setMasker } from '../src/secrets.ts';

/**
 * Text from servers (error bodies, IAP's answers, tokens) and long inputs go through patterns that must stay linear:
 * a quadratic one over a megabyte (a TLS-inspecting proxy's page of repeated "<title", say) costs minutes of CPU that
 * no timeout can interrupt. Each function gets crafted 1 MiB inputs; the bound (a second) is far above a linear
 * run (milliseconds) and far below a quadratic one (over a hundred seconds for the old title pattern).
 */

setMasker(() => undefined);
const MIB = 1 << 20;
const crafted = {
  'repeated <title': '<title'.repeat(MIB / 6),
  'repeated <title> without a close': '<title>'.repeat(MIB / 7),
  'whitespace, then a stray character': `${' \t\n'.repeat(MIB / 3)}!`,
  'base64 characters and spaces, then a stray character': `${'QUJD '.repeat(MIB / 5)}!`,
  'a letter, whitespace, then a stray character': `A${' '.repeat(MIB)}!`,
  dots: '.'.repeat(MIB),
  'JWT-like parts': `${'a.'.repeat(MIB / 2)}!`,
};

function timed(run: () => unknown): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

describe('no pattern over server text or long inputs is worse than linear', () => {
  for (const [name, text] of Object.entries(crafted)) {
    test(name, () => {
      const response = { status: 502, headers: { 'content-type': 'text/html' }, body: text };
      const ms = [
        timed(() => snippet(text)),
        timed(() => parseFailure(response)),
        timed(() => iapRefusal(401, text)),
        timed(() => decodeJwt(text)),
        timed(() => {
          try {
            parseCredentialsJson(text, 'credentials_json', complainAsAction);
          } catch {
            // Not a key: what matters is how long it took to say so.
          }
        }),
      ];
      expect(Math.max(...ms)).toBeLessThan(1_000);
    });
  }
});
