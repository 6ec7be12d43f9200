// Rules about the source that lint cannot say: one home for each idea that has one (issue 22), and module
// descriptions that TypeScript does not take for a declaration's documentation.
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

function sources(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [relative(ROOT, path).split('\\').join('/')] : [];
  });
}

const FILES = new Map(sources().map((path) => [path, readFileSync(join(ROOT, path), 'utf8')]));

/** Each idea, the text that spells it, and the one file allowed to. */
const ONE_HOME: ReadonlyArray<{ idea: string; spelled: RegExp; home: readonly string[]; within?: string }> = [
  { idea: 'did IAP answer', spelled: /'x-goog-iap-generated-response'/, home: ['src/iap/answers.ts'] },
  { idea: 'who answered', spelled: /'iap' \| 'app'/, home: ['src/iap/answers.ts'] },
  { idea: 'the token header', spelled: /'authorization' \| 'proxy-authorization'/, home: ['src/config.ts'] },
  { idea: "an error's message", spelled: /instanceof Error \? \w+\.message/, home: ['src/errors.ts'] },
  { idea: 'the IAM member of an email', spelled: /endsWith\('\.gserviceaccount\.com'\)/, home: ['src/iap/grants.ts'] },
  { idea: 'the IAP access grant', spelled: /gcloud iap web add-iam-policy-binding/, home: ['src/iap/grants.ts'] },
  { idea: "IAP's service agent", spelled: /gcp-sa-iap\.iam\.gserviceaccount\.com/, home: ['src/iap/grants.ts'] },
  { idea: 'the backoff', spelled: /2 \*\* Math\.min/, home: ['src/backoff.ts'] },
  { idea: 'listening', spelled: /\.listen\(/, home: ['src/http/listen.ts'] },
  { idea: 'the hop-by-hop headers', spelled: /'proxy-connection'/, home: ['src/http/headers.ts'] },
  {
    idea: "a token kind's name",
    spelled: /\? 'signed JWT'|\? 'ID token'|'signed JWT' :|'ID token' :|: 'signed JWT'|: 'ID token'|: 'access token'/,
    home: ['src/tokens/check.ts'],
  },
  { idea: 'a line logger', spelled: /\(line: string\) => void/, home: ['src/logger.ts'] },
  { idea: "an input's error", spelled: /new InputError\(/, home: ['src/errors.ts', 'src/cli/vocabulary.ts'] },
  { idea: 'reading a URL input', spelled: /try \{\s+\w+ = new URL\(/, home: ['src/inputs/values.ts'], within: 'src/inputs/' },
  { idea: 'who answered, in words', spelled: /\? 'IAP' : 'the app'/, home: ['src/iap/answers.ts'] },
  { idea: "Google's error formats", spelled: /error_description/, home: ['src/google/failure.ts'] },
  { idea: "IAP's refusal words", spelled: /IAP found the token expired/, home: ['src/iap/refusals.ts'] },
];

describe('one home for each idea', () => {
  test.each(ONE_HOME)('$idea is spelled only in its home', ({ spelled, home, within = 'src/' }) => {
    const elsewhere = [...FILES]
      .filter(([path, text]) => path.startsWith(within) && !home.includes(path) && spelled.test(text))
      .map(([path]) => path);
    expect(elsewhere).toEqual([]);
    // The rule still names something real: its home spells it.
    expect(home.some((path) => spelled.test(FILES.get(path) ?? ''))).toBe(true);
  });
});

describe('module descriptions', () => {
  test('a /** */ block documents the declaration under it; a description of the module is a line comment', () => {
    const loose: string[] = [];
    for (const [path, text] of FILES) {
      const lines = text.split('\n');
      lines.forEach((line, index) => {
        if (!line.startsWith('/**')) return;
        let end = index;
        while (end < lines.length && !(lines[end] ?? '').includes('*/')) end++;
        const next = lines[end + 1] ?? '';
        if (next.trim() === '' || next.startsWith('import ')) loose.push(`${path}:${index + 1}`);
      });
    }
    expect(loose).toEqual([]);
  });
});
