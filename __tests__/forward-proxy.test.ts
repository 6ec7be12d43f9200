import { afterEach, expect, test } from '@jest/globals';
import { connect } from 'node:net';
import { createCertificateAuthority } from '../src/agent/certificates.ts';
import { startForwardProxy } from '../src/http/forward-proxy.ts';
import type { RunningProxy } from '../src/http/reverse-proxy.ts';
import { hostMatches } from '../src/urls.ts';

/**
 * CONNECT requests a browser would never send, but any local program could: none may reach a forwarder (the token)
 * for a host the proxy was not given, and none may stop the proxy.
 */

let proxy: RunningProxy | undefined;
afterEach(async () => proxy?.close());

async function start(asked: string[]): Promise<RunningProxy> {
  const ca = createCertificateAuthority(['*.example.com']);
  proxy = await startForwardProxy({
    intercepts: (host) => hostMatches(['*.example.com'], host),
    forwarderFor: (origin) => {
      asked.push(origin);
      return { request: () => undefined, upgrade: () => undefined, close: async () => undefined };
    },
    certificateFor: (host) => ca.leafFor(host),
    health: () => ({ ok: true, body: {} }),
    listen: { host: '127.0.0.1', port: 0 },
    log: () => undefined,
  });
  return proxy;
}

function connectAnswer(port: number, authority: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
}

test('a host a URL parser would read as another (percent-encoding, ?, @) is refused, never forwarded', async () => {
  const asked: string[] = [];
  const { port } = await start(asked);
  for (const authority of ['attacker%2Ecom?.example.com:443', 'attacker.com@x.example.com:443', 'a%2F:443', 'x.example.com:99999']) {
    expect(await connectAnswer(port, authority)).toMatch(/^HTTP\/1\.1 400/);
  }
  expect(asked).toEqual([]);
  // The proxy still answers.
  expect(await connectAnswer(port, 'app.example.com:443')).toMatch(/^HTTP\/1\.1 200/);
});
