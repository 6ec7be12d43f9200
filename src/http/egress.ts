import { connect, type Socket } from 'node:net';
import { getProxyUrl } from '@actions/http-client/lib/proxy';

// A raw TCP connection to `host:port` the way every other request of ours leaves the machine: through the
// https_proxy the environment names for that host (a CONNECT to it first, with its credentials when its URL carries
// them), unless no_proxy exempts the host; else straight. The forward proxy's pass-through tunnels and the WebSocket
// upgrades of both proxies use it, so that neither bypasses a corporate egress proxy nor fails where only it resolves.

export interface EgressConnection {
  readonly socket: Socket;
  /** Bytes the egress proxy sent after its answer's head: already the far end's. The socket comes paused. */
  readonly early: Buffer;
  /** The egress proxy it went through, when one (for messages: host and port only). */
  readonly via: string | undefined;
}

/** An egress proxy's answer to CONNECT is a head of a few lines; more is not read. */
const MAX_PROXY_ANSWER = 16_384;

export class EgressError extends Error {
  override readonly name = 'EgressError';
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

/** `host:port` as a request line names it (IPv6 literals in brackets). */
export function authorityOf(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Opens the connection; rejects with an EgressError (its `code` Node's, ETIMEDOUT when it is not open within
 * `timeoutMs`, or EGRESS_PROXY for the egress proxy's refusal). `started` is told of the socket at once, so that a
 * caller can end it while it is still being opened.
 */
export function openEgress(
  host: string,
  port: number,
  options: { scheme?: 'https' | 'http'; timeoutMs?: number; started?: (socket: Socket) => void } = {},
): Promise<EgressConnection> {
  const authority = authorityOf(host, port);
  const proxy = getProxyUrl(new URL(`${options.scheme ?? 'https'}://${authority}`));
  return new Promise((resolve, reject) => {
    const socket = proxy ? connect(Number(proxy.port || 80), proxy.hostname) : connect(port, host);
    options.started?.(socket);
    const fail = (message: string, code?: string): void => {
      socket.destroy();
      reject(new EgressError(message, code));
    };
    const onError = (error: NodeJS.ErrnoException): void => fail(error.message, error.code);
    const onClose = (): void => fail('the connection closed before it was open', 'ECONNRESET');
    socket.once('error', onError);
    socket.once('close', onClose);
    // A peer (or egress proxy) that accepts and then says nothing would hold the caller forever.
    if (options.timeoutMs) socket.setTimeout(options.timeoutMs, () => fail('no connection in time', 'ETIMEDOUT'));
    const opened = (early: Buffer): void => {
      socket.off('error', onError);
      socket.off('close', onClose);
      // Whoever uses it adds its own; a late error with none would otherwise end the process.
      socket.on('error', () => socket.destroy());
      socket.setTimeout(0);
      resolve({ socket, early, via: proxy ? proxy.host : undefined });
    };
    if (!proxy) {
      socket.once('connect', () => opened(Buffer.alloc(0)));
      return;
    }
    const credentials = proxy.username
      ? `proxy-authorization: Basic ${Buffer.from(`${decode(proxy.username)}:${decode(proxy.password)}`).toString('base64')}\r\n`
      : '';
    socket.once('connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n${credentials}\r\n`));
    let answered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      answered = Buffer.concat([answered, chunk]);
      const end = answered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (answered.length > MAX_PROXY_ANSWER) fail(`the egress proxy ${proxy.host} sent an oversized answer`, 'EGRESS_PROXY');
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const status = answered.subarray(0, answered.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200/.test(status)) {
        return fail(`the egress proxy ${proxy.host} refused the tunnel: ${status.slice(0, 200)}`, 'EGRESS_PROXY');
      }
      opened(answered.subarray(end + 4));
    };
    socket.on('data', onData);
  });
}

/** The egress proxy's user name and password as its URL spells them, percent-decoded. */
function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
