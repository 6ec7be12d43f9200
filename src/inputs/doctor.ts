import type { DoctorConfig } from '../config.ts';
import { quote } from '../errors.ts';
import { displayUrl } from '../urls.ts';
import type { Context } from './context.ts';
import type { KnownUrl } from './token-choice.ts';
import { parseUrlInput, readBoolean } from './values.ts';

// doctor, doctor_fail_on_problem, doctor_also, iap_resource (the CLI's `doctor URL --also URL --iap-resource NAME`).

/**
 * An IAP resource as its APIs name it: a load balancer's backend service, an App Engine service, a Cloud Run service
 * with IAP on it directly. One path, no wildcards; the project is its number or ID.
 */
const IAP_RESOURCE =
  /^projects\/[a-z0-9-]{1,63}\/iap_web(\/(compute|compute-[a-z0-9-]{1,40}|appengine-[a-z0-9:.-]{1,100}|cloud_run-[a-z0-9-]{1,40})(\/services\/[A-Za-z0-9_.-]{1,100})?)?$/;
const MAX_ALSO = 10;

export function readDoctorConfig(ctx: Context, known: KnownUrl | undefined): DoctorConfig | undefined {
  const { input, fail, words: w } = ctx;
  const enabled = readBoolean(ctx, input('doctor'), 'doctor', false);
  const failOnProblem = readBoolean(ctx, input('doctor_fail_on_problem'), 'doctor_fail_on_problem', false);
  const also = readAlso(ctx);
  const iapResource = input('iap_resource') || undefined;
  if (iapResource && !IAP_RESOURCE.test(iapResource)) {
    fail(
      'iap_resource',
      `must be an IAP resource name such as projects/PROJECT_NUMBER/iap_web/compute/services/BACKEND_SERVICE_ID or projects/PROJECT_NUMBER/iap_web/cloud_run-REGION/services/SERVICE, got ${quote(iapResource)}`,
    );
  }
  if (!enabled) {
    if (failOnProblem) fail('doctor_fail_on_problem', `goes with ${w.name('doctor')}, which is not on.`);
    if (also.length) fail('doctor_also', `goes with ${w.name('doctor')}, which is not on.`);
    return undefined;
  }
  if (!known) {
    return fail('doctor', `needs the app's URL: set ${w.name('app_url')} (or ${w.name('proxy_to')}, or ${w.name('smoke_test_urls')}).`);
  }
  return { url: known.url.href, also, iapResource, failOnProblem };
}

function readAlso(ctx: Context): string[] {
  const { input, fail } = ctx;
  const urls: string[] = [];
  for (const [index, raw] of input('doctor_also').split('\n').entries()) {
    const text = raw.trim();
    if (!text) continue;
    const url = parseUrlInput(ctx, 'doctor_also', text, {
      notUrl: `entry ${index + 1} is not a URL; give the app's other URLs (such as its run.app URL), one per line`,
      userinfo: `entry ${index + 1} carries a user name or password`,
    });
    if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('doctor_also', `${quote(displayUrl(url))} is not an http(s) URL`);
    urls.push(url.href);
  }
  if (urls.length > MAX_ALSO) fail('doctor_also', `lists ${urls.length} URLs; at most ${MAX_ALSO} are accepted`);
  return urls;
}
