import { answeredByIap } from '../iap/answers.ts';
import type { ApiFailure } from '../errors.ts';
import type { HttpResponse } from '../http/client.ts';
import { isRetryableNetworkFailure, isRetryableStatus } from '../http/failures.ts';
import type { SmokeConfig, StatusSet } from '../config.ts';

/**
 * What can heal while we wait: IAP's 403 (an IAM grant still propagating), 5xx, 429, 408. What cannot: IAP's 401s
 * (audience, signature, email claim), redirects, and the app's other answers.
 */
export function canHeal(response: HttpResponse, config: SmokeConfig): boolean {
  if (statusIn(config.expected, response.status)) return false;
  if (answeredByIap(response.headers)) return response.status === 403 || isRetryableStatus(response.status);
  return isRetryableStatus(response.status);
}

/** Methods whose repetition can repeat an effect in the app. */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Can sending this request again repeat an effect in the app? */
export function isUnsafe(method: string): boolean {
  return UNSAFE.has(method);
}

/**
 * For POST, PUT, PATCH and DELETE only what the app cannot have acted on is retried: answers IAP made itself (the
 * request never reached the app) and connections that were never made. A timeout or a reset may follow a request the
 * app did receive, and an app's 5xx may follow a partial effect.
 */
export function canRetrySafely(
  method: string,
  config: SmokeConfig,
): { answer: (response: HttpResponse) => boolean; failure: (failure: ApiFailure) => boolean } {
  if (!UNSAFE.has(method)) return { answer: (response) => canHeal(response, config), failure: isRetryableNetworkFailure };
  return {
    answer: (response) => answeredByIap(response.headers) && canHeal(response, config),
    failure: (failure) => failure.code === 'ECONNREFUSED' || failure.code === 'EAI_AGAIN',
  };
}

export function statusIn(set: StatusSet, status: number): boolean {
  return set.ranges.some(([low, high]) => status >= low && status <= high);
}
