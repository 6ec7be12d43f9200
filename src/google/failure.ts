import type { ApiFailure } from '../errors.ts';
import type { HttpResponse } from '../http/client.ts';
import { plainFailure, snippet } from '../http/failures.ts';
import { parseJsonObject } from '../json.ts';

/**
 * Google answers errors three ways: Google API style `{error: {code, message, status, details}}`, OAuth style
 * `{error: "invalid_grant", error_description}`, and plain text or HTML (metadata server, proxies, load balancers).
 * Every client of a Google API reads its failures with this (the HTTP layer's `failure` of a request).
 */
export function googleFailure(response: HttpResponse): ApiFailure {
  const json = parseJsonObject(response.body);
  const error = json?.['error'];
  if (error && typeof error === 'object') {
    const e = error as Record<string, unknown>;
    const details = Array.isArray(e['details']) ? (e['details'] as Array<Record<string, unknown>>) : [];
    const reason = details.map((d) => d?.['reason']).find((r): r is string => typeof r === 'string');
    const permission = details
      .map((d) => (d?.['metadata'] as Record<string, unknown> | undefined)?.['permission'])
      .find((p): p is string => typeof p === 'string');
    return {
      status: response.status,
      ...(typeof e['status'] === 'string' ? { code: e['status'] } : {}),
      message: typeof e['message'] === 'string' ? e['message'] : snippet(response.body),
      ...(reason ? { reason } : {}),
      ...(permission ? { permission } : {}),
    };
  }
  if (typeof error === 'string') {
    const description = json?.['error_description'];
    return { status: response.status, code: error, message: typeof description === 'string' ? description : error };
  }
  return plainFailure(response);
}
