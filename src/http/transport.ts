import type { Agent } from 'node:http';
import { getProxyUrl } from '@actions/http-client/lib/proxy';
import type { Transport } from './client.ts';

/** Bodies are read up to this size; the rest is dropped (a token answer is far smaller, an app's page may not be). */
const MAX_BODY_BYTES = 1 << 20;

/**
 * node:http(s). Modules load on first use, so a run pays only for what it calls (most never load the tunnelling
 * agent). The proxy decision is @actions/http-client's, as for every action: https_proxy/http_proxy/no_proxy, and
 * never for this machine's own addresses; its agent then tunnels through the proxy.
 */
export const nodeTransport: Transport = async (request, signal) => {
  const url = new URL(request.url);
  // getBuiltinModule, not import(): an ES import of node:http builds its namespace, whose lazy getters load Node's
  // WebSocket client (measured: 12 ms of start-up CPU). The metadata server is plain HTTP and never loads TLS.
  const { request: send } = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
  const agent = !request.direct && getProxyUrl(url) ? await proxyAgent(request.url) : undefined;
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers: Record<string, string> = { 'user-agent': 'iap-token', ...request.headers };
    if (body) headers['content-length'] = String(body.length);
    const req = send(url, { method: request.method, headers, signal, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk.subarray(0, Math.max(0, MAX_BODY_BYTES - size)));
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) {
          // Enough to judge the answer: stop reading and keep what arrived.
          done();
          req.destroy();
        }
      });
      res.on('end', done);
      res.on('error', reject);
    });
    req.on('error', reject);
    // The signal alone does not reach a request still waiting for a socket (a proxy that never answers CONNECT):
    // on timeout, end the request and settle here whatever state it is in.
    const onAbort = () => {
      req.destroy(signal.reason as Error);
      reject(signal.reason as Error);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal.removeEventListener('abort', onAbort));
    req.end(body);
  });
};

async function proxyAgent(url: string): Promise<Agent> {
  const { HttpClient } = await import('@actions/http-client');
  return new HttpClient('iap-token').getAgent(url);
}
