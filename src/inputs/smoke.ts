import type { SmokeConfig, SmokeTarget, StatusSet } from '../config.ts';
import { InputError, quote } from '../errors.ts';
import { registerSecret } from '../secrets.ts';
import { carriesTokens, displayUrl } from '../urls.ts';
import type { InputName } from './vocabulary.ts';

/** The smoke_test_* inputs (the action's only; the CLI has no smoke tests). Every error names its input. */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Headers the HTTP layer owns; letting a workflow set them would break requests in confusing ways. */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive']);
/** Header names whose values are credentials; their values are masked (values are never logged in any case). */
const SENSITIVE = /authorization|cookie|token|secret|key|auth|password|session/i;

type Input = (name: InputName) => string;

/** Reads the smoke_test_* inputs; `undefined` when no URL is given. All errors name the input. */
export function readSmokeConfig(input: Input): SmokeConfig | undefined {
  const targets = readTargets(input('smoke_test_urls'));
  const header = readHeaderChoice(input('smoke_test_header'));
  const headers = readHeaders(input('smoke_test_headers'), header);
  const expected = readStatusSet(input('smoke_test_expected_status') || '200-299');
  const retryForMs = readSeconds(input('smoke_test_retry_for'), 'smoke_test_retry_for', 300, 0, 3600) * 1000;
  const timeoutMs = readSeconds(input('smoke_test_timeout'), 'smoke_test_timeout', 30, 1, 600) * 1000;
  if (targets.length === 0) return undefined;
  return { targets, header, headers, expected, retryForMs, timeoutMs };
}

/** A signed JWT is good for the URLs its audience covers: every URL the token is sent to must be one (DENY lines get none). */
export function checkSmokeCoverage(smoke: SmokeConfig, coverage: (url: URL) => string | undefined): void {
  for (const target of smoke.targets) {
    const problem = target.deny ? undefined : coverage(new URL(target.url));
    if (problem) throw new InputError('smoke_test_urls', problem);
  }
}

/**
 * One URL per line, `URL`, `METHOD URL`, or `DENY URL` (called without a token; it passes only when IAP refuses it). No message quotes a line whole: a URL may carry a key in its query or a
 * password before its host; lines are named by number, URLs shown without userinfo and query.
 */
function readTargets(value: string): SmokeTarget[] {
  const targets: SmokeTarget[] = [];
  for (const [index, raw] of value.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const where = `line ${index + 1}`;
    const match = /^(?:([A-Za-z]+)\s+)?(\S+)$/.exec(line);
    const word = (match?.[1] ?? 'GET').toUpperCase();
    const deny = word === 'DENY';
    const method = deny ? 'GET' : word;
    const text = match?.[2] ?? line;
    if (!match || !METHODS.includes(method)) {
      throw new InputError(
        'smoke_test_urls',
        `each line is URL, METHOD URL (${METHODS.join(', ')}) or DENY URL (IAP must refuse it without a token); ${where} is none of these`,
      );
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new InputError('smoke_test_urls', `${where} is not a URL; give absolute https URLs, one per line`);
    }
    // Userinfo first, so that no later message shows a URL that carries a password.
    if (url.username || url.password) {
      throw new InputError(
        'smoke_test_urls',
        `${where}: the URL carries a user name or password; send credentials in smoke_test_headers instead`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new InputError('smoke_test_urls', `${where}: ${quote(displayUrl(url))} is not an http(s) URL`);
    }
    if (!carriesTokens(url)) {
      // The token (and any smoke_test_headers) would cross the network in the clear.
      throw new InputError(
        'smoke_test_urls',
        `${where}: ${quote(displayUrl(url))} is plain http; the token is sent only over https (http only to localhost)`,
      );
    }
    targets.push({ method, url: url.toString(), deny });
  }
  if (targets.length > 50) throw new InputError('smoke_test_urls', `lists ${targets.length} URLs; at most 50 are accepted`);
  return targets;
}

function readHeaderChoice(value: string): SmokeConfig['header'] {
  const header = value.toLowerCase() || 'authorization';
  if (header !== 'authorization' && header !== 'proxy-authorization') {
    throw new InputError(
      'smoke_test_header',
      `must be authorization or proxy-authorization (for apps that use their own Authorization header), got ${quote(value)}`,
    );
  }
  return header;
}

function readHeaders(value: string, tokenHeader: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const raw of value.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    // The value is never quoted: it may be a credential.
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      throw new InputError('smoke_test_headers', 'each line is "Name: value"; a line has no valid header name before its colon');
    }
    if (RESERVED.has(name)) throw new InputError('smoke_test_headers', `${name} is set by the HTTP client and cannot be given`);
    if (name === tokenHeader) {
      throw new InputError(
        'smoke_test_headers',
        `sets ${name}, which carries the IAP token; to send the app its own Authorization, set smoke_test_header: proxy-authorization`,
      );
    }
    const headerValue = line.slice(colon + 1).trim();
    if (SENSITIVE.test(name)) registerSecret(headerValue.replace(/^(Bearer|Basic)\s+/i, ''));
    headers[name] = headerValue;
  }
  return headers;
}

export function readStatusSet(value: string): StatusSet {
  const ranges: Array<[number, number]> = [];
  for (const part of value.split(/[\s,]+/).filter(Boolean)) {
    const exact = /^([1-5]\d\d)$/.exec(part);
    const range = /^([1-5]\d\d)-([1-5]\d\d)$/.exec(part);
    const klass = /^([1-5])xx$/i.exec(part);
    if (exact) ranges.push([Number(exact[1]), Number(exact[1])]);
    else if (range && Number(range[1]) <= Number(range[2])) ranges.push([Number(range[1]), Number(range[2])]);
    else if (klass) ranges.push([Number(klass[1]) * 100, Number(klass[1]) * 100 + 99]);
    else {
      throw new InputError(
        'smoke_test_expected_status',
        `${quote(part)} is not a status: give codes, ranges or classes separated by commas, such as 200, 200-299, 2xx,404`,
      );
    }
  }
  if (ranges.length === 0) throw new InputError('smoke_test_expected_status', 'is empty; for example 200-299');
  return { text: value, ranges };
}

function readSeconds(value: string, name: string, fallback: number, min: number, max: number): number {
  if (!value) return fallback;
  const seconds = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= min && seconds <= max)) throw new InputError(name, `must be whole seconds from ${min} to ${max}, got ${quote(value)}`);
  return seconds;
}
