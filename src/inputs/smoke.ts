import type { SmokeConfig, SmokeTarget, StatusSet } from '../config.ts';
import { quote } from '../errors.ts';
import { registerSecret } from '../secrets.ts';
import { carriesTokens, displayUrl } from '../urls.ts';
import type { Context } from './context.ts';
import { parseUrlInput, readTokenHeader, readWholeNumber } from './values.ts';
import type { InputName } from './vocabulary.ts';

// The smoke_test_* inputs (the action's only; the CLI has no smoke tests). Every error names its input.

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Headers the HTTP layer owns; letting a workflow set them would break requests in confusing ways. */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive']);
/** Header names whose values are credentials; their values are masked (values are never logged in any case). */
const SENSITIVE = /authorization|cookie|token|secret|key|auth|password|session/i;

/** Reads the smoke_test_* inputs; `undefined` when no URL is given. All errors name the input. */
export function readSmokeConfig(ctx: Context): SmokeConfig | undefined {
  const { input } = ctx;
  const targets = readTargets(ctx, input('smoke_test_urls'));
  const header = readTokenHeader(ctx, 'smoke_test_header');
  const headers = readHeaders(ctx, input('smoke_test_headers'), header);
  const expected = readStatusSet(ctx, input('smoke_test_expected_status') || '200-299');
  const retryForMs = readSeconds(ctx, 'smoke_test_retry_for', 300, 0, 3600) * 1000;
  const timeoutMs = readSeconds(ctx, 'smoke_test_timeout', 30, 1, 600) * 1000;
  if (targets.length === 0) return undefined;
  return { targets, header, headers, expected, retryForMs, timeoutMs };
}

/** A signed JWT is good for the URLs its audience covers: every URL the token is sent to must be one (DENY lines get none). */
export function checkSmokeCoverage({ fail }: Context, smoke: SmokeConfig, coverage: (url: URL) => string | undefined): void {
  for (const target of smoke.targets) {
    const problem = target.deny ? undefined : coverage(new URL(target.url));
    if (problem) fail('smoke_test_urls', problem);
  }
}

/**
 * One URL per line, `URL`, `METHOD URL`, or `DENY URL` (called without a token; it passes only when IAP refuses it). No message quotes a line whole: a URL may carry a key in its query or a
 * password before its host; lines are named by number, URLs shown without userinfo and query.
 */
function readTargets(ctx: Context, value: string): SmokeTarget[] {
  const { fail } = ctx;
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
      fail(
        'smoke_test_urls',
        `each line is URL, METHOD URL (${METHODS.join(', ')}) or DENY URL (IAP must refuse it without a token); ${where} is none of these`,
      );
    }
    // Userinfo first, so that no later message shows a URL that carries a password.
    const url = parseUrlInput(ctx, 'smoke_test_urls', text, {
      notUrl: `${where} is not a URL; give absolute https URLs, one per line`,
      userinfo: `${where}: the URL carries a user name or password; send credentials in smoke_test_headers instead`,
    });
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      fail('smoke_test_urls', `${where}: ${quote(displayUrl(url))} is not an http(s) URL`);
    }
    if (!carriesTokens(url)) {
      // The token (and any smoke_test_headers) would cross the network in the clear.
      fail(
        'smoke_test_urls',
        `${where}: ${quote(displayUrl(url))} is plain http; the token is sent only over https (http only to localhost)`,
      );
    }
    targets.push({ method, url: url.toString(), deny });
  }
  if (targets.length > 50) fail('smoke_test_urls', `lists ${targets.length} URLs; at most 50 are accepted`);
  return targets;
}

function readHeaders({ fail }: Context, value: string, tokenHeader: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const raw of value.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    // The value is never quoted: it may be a credential.
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      fail('smoke_test_headers', 'each line is "Name: value"; a line has no valid header name before its colon');
    }
    if (RESERVED.has(name)) fail('smoke_test_headers', `${name} is set by the HTTP client and cannot be given`);
    if (name === tokenHeader) {
      fail(
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

function readStatusSet({ fail }: Context, value: string): StatusSet {
  const ranges: Array<[number, number]> = [];
  for (const part of value.split(/[\s,]+/).filter(Boolean)) {
    const exact = /^([1-5]\d\d)$/.exec(part);
    const range = /^([1-5]\d\d)-([1-5]\d\d)$/.exec(part);
    const klass = /^([1-5])xx$/i.exec(part);
    if (exact) ranges.push([Number(exact[1]), Number(exact[1])]);
    else if (range && Number(range[1]) <= Number(range[2])) ranges.push([Number(range[1]), Number(range[2])]);
    else if (klass) ranges.push([Number(klass[1]) * 100, Number(klass[1]) * 100 + 99]);
    else {
      fail(
        'smoke_test_expected_status',
        `${quote(part)} is not a status: give codes, ranges or classes separated by commas, such as 200, 200-299, 2xx,404`,
      );
    }
  }
  if (ranges.length === 0) fail('smoke_test_expected_status', 'is empty; for example 200-299');
  return { text: value, ranges };
}

/** Whole seconds from `min` to `max`; empty takes `fallback`. */
function readSeconds(ctx: Context, name: InputName, fallback: number, min: number, max: number): number {
  return ctx.input(name) ? readWholeNumber(ctx, name, 'seconds', min, max) : fallback;
}
