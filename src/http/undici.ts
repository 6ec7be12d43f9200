import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import ProxyAgent from 'undici/lib/dispatcher/proxy-agent.js';

/**
 * undici's two dispatchers the forwarder uses, by their own modules rather than undici's index: the index brings
 * fetch, WebSocket, caches and mocks along (416 kB minified in the CLI against 260 kB), which the published CLI
 * package cannot afford (< 1 MB installed). The index also gives every dispatcher its API methods (the forwarder calls
 * `stream`; ProxyAgent tunnels with `connect`): they are given here exactly as the index gives them.
 */
Object.assign(Dispatcher.prototype, api);

export { Pool, ProxyAgent };
