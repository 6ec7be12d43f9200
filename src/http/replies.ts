import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// The proxies' own answers: one line of why, in the body and in `X-Iap-Token-Diagnosis` (printable ASCII), so that a
// person reading a client's output and a test reading headers see the same reason.

const diagnosis = (reason: string): string => reason.replace(/[^\x20-\x7e]/g, '?');

export function answer(res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}): void {
  const text = `iap-token proxy: ${reason}\n`;
  // The reason phrase named anew: a writeHead that threw before this one may have left the app's.
  res.writeHead(status, STATUS_CODES[status] ?? 'Error', {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-iap-token-diagnosis': diagnosis(reason),
  });
  res.end(text);
}

/** The same answer written by hand, for a connection Node's server has let go of (CONNECT, an upgrade), then closed. */
export function rawAnswer(status: number, reason: string, headers: Record<string, string> = {}): string {
  const text = `iap-token proxy: ${reason}\n`;
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(text)}\r\nx-iap-token-diagnosis: ${diagnosis(reason)}\r\n${extra.join('')}connection: close\r\n\r\n${text}`
  );
}

/** Ends a raw connection with an answer, unless it is gone already. */
export function endWith(socket: Socket, status: number, reason: string, headers: Record<string, string> = {}): void {
  if (!socket.destroyed && socket.writable) socket.end(rawAnswer(status, reason, headers));
  else socket.destroy();
}

/** Why the upstream could not be reached, in a line; `limitS` is the wait for its answer's head. */
export function upstreamReason(error: { code?: string | undefined; message: string }, target: URL, limitS: number): string {
  switch (error.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UPSTREAM_TIMEOUT':
      return `${target.host} sent no answer within ${limitS} s (the proxy's response timeout)`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `the connection to ${target.host} was reset`;
    case 'ECONNREFUSED':
      return `${target.host} refused the connection`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the name ${target.hostname} did not resolve`;
    case 'EGRESS_PROXY':
      return error.message;
    case 'BAD_HEADER':
      return `${target.host} answered with a header this proxy cannot pass on`;
    case 'ETIMEDOUT':
      return `the connection to ${target.host} was not made within ${limitS} s`;
    default:
      return `could not reach ${target.host} (${error.code ?? error.message})`;
  }
}
