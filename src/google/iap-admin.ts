import type { Http } from '../http/client.ts';
import { googleFailure } from './failure.ts';

// IAP's own API, read only: an app's IAP settings and its IAM policy. The doctor reads both when the caller may (each
// needs its permission; a refusal names it), to say which OAuth client the app uses and who may pass.

/** What the doctor needs from `:iapSettings`. */
export interface IapSettings {
  /** The custom OAuth client IAP signs people in with; undefined means Google's managed client. */
  readonly clientId: string | undefined;
  /** OAuth clients whose ID tokens IAP also accepts (the only ones, on the managed client). */
  readonly programmaticClients: readonly string[];
}

export interface IamBinding {
  readonly role: string;
  readonly members: readonly string[];
  /** A binding with a condition grants only when the condition holds: the doctor cannot tell whether it does. */
  readonly conditional: boolean;
}

const CLIENT_ID = /^[\w.-]{1,200}\.apps\.googleusercontent\.com$/;

export class IapAdmin {
  readonly #http: Http;
  readonly #base: string;

  constructor(http: Http, base: string) {
    this.#http = http;
    this.#base = base;
  }

  async settings(accessToken: string, resource: string): Promise<IapSettings> {
    const answer = await this.#http.json({
      failure: googleFailure,
      what: `IAP settings of ${resource}`,
      method: 'GET',
      url: `${this.#base}/${resource}:iapSettings`,
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      retry: { attempts: 2 },
      remedy: (failure) =>
        failure.status === 403
          ? `Reading IAP settings needs iap.webServices.getSettings on ${resource} (roles/iap.settingsAdmin).`
          : undefined,
    });
    const oauth = objectAt(objectAt(answer, 'accessSettings'), 'oauthSettings');
    const clientId = typeof oauth['clientId'] === 'string' && oauth['clientId'] ? oauth['clientId'] : undefined;
    // Client IDs become ID-token audiences and report lines: only what has a client ID's shape is taken.
    const clients = strings(oauth['programmaticClients']).filter((id) => CLIENT_ID.test(id));
    return { clientId: clientId && CLIENT_ID.test(clientId) ? clientId : undefined, programmaticClients: clients };
  }

  async iamPolicy(accessToken: string, resource: string): Promise<IamBinding[]> {
    const answer = await this.#http.json({
      failure: googleFailure,
      what: `IAP IAM policy of ${resource}`,
      method: 'POST',
      url: `${this.#base}/${resource}:getIamPolicy`,
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ options: { requestedPolicyVersion: 3 } }),
      retry: { attempts: 2 },
      remedy: (failure) =>
        failure.status === 403
          ? `Reading the IAP IAM policy needs iap.webServices.getIamPolicy on ${resource} (roles/iap.admin).`
          : undefined,
    });
    const bindings = Array.isArray(answer['bindings']) ? (answer['bindings'] as unknown[]) : [];
    return bindings.flatMap((binding) => {
      if (binding === null || typeof binding !== 'object') return [];
      const { role, members, condition } = binding as Record<string, unknown>;
      return typeof role === 'string' ? [{ role, members: strings(members), conditional: condition !== undefined }] : [];
    });
  }
}

function objectAt(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const inner = value[key];
  return inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Record<string, unknown>) : {};
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
