import { isRetryableStatus, type HttpResponse } from '../http.ts';
import { statusIn, type SmokeConfig } from './config.ts';

/** Answers IAP made itself carry this header; everything else passed IAP and came from the app. */
export function fromIap(response: HttpResponse): boolean {
  return String(response.headers['x-goog-iap-generated-response'] ?? '').toLowerCase() === 'true';
}

/**
 * What can heal while we wait: IAP's 403 (an IAM grant still propagating), 5xx, 429, 408. What cannot: IAP's 401s
 * (audience, signature, email claim), redirects, and the app's other answers.
 */
export function canHeal(response: HttpResponse, config: SmokeConfig): boolean {
  if (statusIn(config.expected, response.status)) return false;
  if (fromIap(response)) return response.status === 403 || response.status >= 500;
  return isRetryableStatus(response.status);
}
