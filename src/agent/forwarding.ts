import type { TokenHeader } from '../config.ts';
import type { ForwarderOptions } from '../http/forwarder.ts';
import { iapRefusal, isIapRefusal } from '../iap/answers.ts';
import { explainRefusal } from '../iap/refusals.ts';
import type { Logger } from '../logger.ts';
import type { TokenKeeper } from './keeper.ts';
import type { ProxyEvent, Tally } from './stats.ts';

/** What the agent's proxies share to forward a request: the keeper's token, IAP's refusals told and counted. */
export interface Forwarding extends Pick<ForwarderOptions, 'header' | 'token' | 'isRefusal' | 'onIapRefusal' | 'log'> {
  readonly count: (event: ProxyEvent) => void;
}

export interface ForwardingContext {
  readonly tally: Tally;
  readonly report: Logger;
  /** Told when the figures change (the agent process writes them for the post step). */
  readonly changed: () => void;
}

/**
 * Forwarding with `keeper`'s token in `header`. A refusal is explained in the proxy's words, counted, and, when IAP
 * found the token expired, answered by one fresh mint and one more try (a refusal of that retry mints nothing more).
 */
export function forwardingWith(keeper: TokenKeeper, header: TokenHeader, { tally, report, changed }: ForwardingContext): Forwarding {
  return {
    header,
    token: async () => (await keeper.current()).token,
    isRefusal: isIapRefusal,
    onIapRefusal: async (status, body, sentToken, final) => {
      const refusal = iapRefusal(status, body);
      tally.refused(refusal);
      const current = await keeper.current().catch(() => undefined);
      const explanation = explainRefusal(refusal, 'proxy', {
        header,
        principal: current?.principal ?? 'the caller',
        kind: current?.kind ?? 'id_token',
      });
      report.info(`IAP refused a request with ${status} (${refusal}): ${explanation}`);
      changed();
      if (refusal !== 'expired' || final) return { explanation, retry: false };
      const fresh = await keeper.refreshNow(sentToken).catch(() => undefined);
      return { explanation, retry: fresh !== undefined };
    },
    log: report.info,
    count: (event) => {
      tally.count(event);
      if (event !== 'request') changed();
    },
  };
}
