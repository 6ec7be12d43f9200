// @actions/http-client imports undici for one helper we never call (getAgentDispatcher, for fetch-based clients).
// Bundling undici costs ~400 kB and ~40 ms of start-up CPU on every run; this stand-in keeps it out and fails loudly
// if that helper is ever reached.
export class ProxyAgent {
  constructor() {
    throw new Error('iap-token: undici is not bundled; use HttpClient.getAgent, not getAgentDispatcher');
  }
}
