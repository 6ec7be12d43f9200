import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Dispatcher } from 'undici';
import { downstreamHeaders, headersFromRaw } from './headers.ts';

// One request's exchange with the upstream, as undici's dispatch handler (src/http/forwarder.ts makes one per
// request): the answer streamed to the client with back-pressure, or IAP's refusal collected for the caller.

/** IAP's refusals are a line or a small page; more is not read before answering the client. */
const REFUSAL_BYTES = 16 * 1024;

/**
 * Which answers are refusals to collect rather than stream: IAP's own (src/iap/answers.ts, `isIapRefusal`), handed in
 * because the HTTP layer does not know IAP.
 */
export type RefusalTest = (status: number, headers: IncomingHttpHeaders) => boolean;

export type Outcome =
  | { kind: 'done' }
  | { kind: 'refused'; status: number; headers: IncomingHttpHeaders; body: Buffer }
  | { kind: 'failed'; error: NodeJS.ErrnoException };

/**
 * One request's exchange with the upstream, as undici's dispatch handler: the answer streamed to `res` with
 * back-pressure, or IAP's refusal collected; `settle` is told once how it ended. A client that leaves aborts it.
 */
export class Exchange implements Dispatcher.DispatchHandlers {
  #abort: ((reason?: Error) => void) | undefined;
  #refusal: { status: number; headers: IncomingHttpHeaders; chunks: Buffer[]; size: number } | undefined;
  #settled = false;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly target: URL;
  private readonly origin: string;
  private readonly holdBack: RefusalTest;
  private readonly settle: (outcome: Outcome) => void;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    target: URL,
    origin: string,
    holdBack: RefusalTest,
    settle: (outcome: Outcome) => void,
  ) {
    this.req = req;
    this.res = res;
    this.target = target;
    this.origin = origin;
    this.holdBack = holdBack;
    this.settle = settle;
    res.once('close', () => {
      if (!res.writableFinished) this.#abort?.(new Error('the client left'));
    });
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.res.destroyed) abort(new Error('the client left'));
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const headers = headersFromRaw(rawHeaders);
    if (status < 200) {
      if (status === 103) this.#earlyHints(headers['link']);
      return true;
    }
    if (this.holdBack(status, headers)) {
      this.#refusal = { status, headers, chunks: [], size: 0 };
      return true;
    }
    try {
      this.res.writeHead(status, downstreamHeaders(headers, this.target, this.origin));
    } catch {
      // A header Node will not write: this answer fails, told as such.
      this.#end({ kind: 'failed', error: Object.assign(new Error('bad header'), { code: 'BAD_HEADER' }) });
      this.#abort?.(new Error('the answer had a header that cannot be passed on'));
      return false;
    }
    this.res.on('drain', resume);
    return true;
  }

  /** 103 Early Hints go on to an HTTP/1.1 client (a browser preloads what they link); other interim answers stay here. */
  #earlyHints(link: string | string[] | undefined): void {
    if (!link || this.res.headersSent || this.req.httpVersion !== '1.1') return;
    try {
      this.res.writeEarlyHints({ link });
    } catch {
      // A link Node will not write is a hint lost, not an exchange.
    }
  }

  onData(chunk: Buffer): boolean {
    const refusal = this.#refusal;
    if (!refusal) return this.res.write(chunk);
    if (refusal.size < REFUSAL_BYTES) refusal.chunks.push(chunk.subarray(0, REFUSAL_BYTES - refusal.size));
    refusal.size += chunk.length;
    return true;
  }

  onComplete(): void {
    const refusal = this.#refusal;
    if (refusal) this.#end({ kind: 'refused', status: refusal.status, headers: refusal.headers, body: Buffer.concat(refusal.chunks) });
    else {
      this.res.end();
      this.#end({ kind: 'done' });
    }
  }

  onError(error: Error): void {
    // A client that left needs no answer; anything else is told.
    if (this.res.destroyed) return this.#end({ kind: 'done' });
    this.#end({ kind: 'failed', error });
  }

  #end(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    // The client's unread upload, when the upstream answered or failed before reading it all: read and dropped, so
    // that the client can finish sending and read the answer (as Node's server does for a handler that reads no body).
    if (!this.req.complete) {
      this.req.unpipe();
      this.req.resume();
    }
    this.settle(outcome);
  }
}

/** A refusal's body as text, decoded when the server compressed it (undecodable or cut short: what could be read). */
export function decodedText(bytes: Buffer, encoding: string | string[] | undefined): string {
  const decode: Record<string, (input: Buffer) => Buffer> = { gzip: gunzipSync, deflate: inflateSync, br: brotliDecompressSync };
  const decoder =
    decode[
      String(encoding ?? '')
        .trim()
        .toLowerCase()
    ];
  if (!decoder) return bytes.toString('utf8');
  try {
    return decoder(bytes).toString('utf8').slice(0, REFUSAL_BYTES);
  } catch {
    return '';
  }
}
