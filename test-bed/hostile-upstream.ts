import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * An upstream that breaks the exchange where a test says: it reads the request's head (and, if told, some of its
 * body), writes the first `cut` bytes of a well-formed answer, then closes (FIN) or resets (RST) the connection. The
 * answer announces `bodyBytes` of body, so any cut short of its end truncates it. One plan for every connection until
 * the test sets another; `ok()` sets the plan of a whole, small answer, for the request that proves the proxy lives.
 */

export interface Plan {
  /** Bytes of the request body to read before answering (0: answer at the end of the head). */
  readonly afterUpload: number;
  /** How much of the answer to send: a byte count into head + body, or all of it. */
  readonly cut: number | 'all';
  /** How the connection ends after the cut: FIN, or RST. */
  readonly close: 'end' | 'reset';
  /** A 100 Continue first (as a server that is ready for the body says). */
  readonly continueFirst?: boolean;
  readonly bodyBytes: number;
}

export const OK_BODY = 'all good';

export class HostileUpstream {
  port = 0;
  plan: Plan = okPlan();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      this.#serve(socket, this.plan);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  ok(): void {
    this.plan = okPlan();
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: Socket, plan: Plan): void {
    let received = Buffer.alloc(0);
    let headEnd = -1;
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      received = Buffer.concat([received, chunk]);
      if (headEnd === -1) {
        headEnd = received.indexOf('\r\n\r\n');
        if (headEnd === -1) return;
        if (plan.continueFirst) socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
      if (received.length - headEnd - 4 < plan.afterUpload) return;
      answered = true;
      const body = plan.cut === 'all' && plan.bodyBytes === OK_BODY.length ? Buffer.from(OK_BODY) : Buffer.alloc(plan.bodyBytes, 0x61);
      const answer = Buffer.concat([
        Buffer.from(
          `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\n${plan.cut === 'all' ? 'connection: close\r\n' : ''}\r\n`,
        ),
        body,
      ]);
      // One exchange a connection: a whole answer ends it too, so no kept-alive connection meets the next plan.
      if (plan.cut === 'all') {
        socket.end(answer);
        return;
      }
      const part = answer.subarray(0, plan.cut);
      const finish = () => (plan.close === 'reset' ? socket.resetAndDestroy() : socket.end());
      if (part.length) socket.write(part, finish);
      else finish();
    });
  }
}

function okPlan(): Plan {
  return { afterUpload: 0, cut: 'all', close: 'end', bodyBytes: OK_BODY.length };
}

export interface ClientOutcome {
  /** What came back, as bytes. */
  readonly answer: string;
  /** How the connection ended: the proxy closed it (or reset it), or it stayed open after a whole answer. */
  readonly ended: 'closed' | 'reset' | 'open';
}

/**
 * A client that sends a request with a body of `uploadBytes`, `chunk` bytes at a time with a pause between, so the
 * upstream can break the exchange while the upload is still going, and returns what it got once the connection ends
 * or a whole answer has come. `waitForContinue` sends Expect: 100-continue and waits for it before the body.
 */
export function hostileExchange(
  port: number,
  options: { uploadBytes: number; chunk: number; waitForContinue: boolean; host: string },
): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let done = false;
    const finish = (ended: ClientOutcome['ended']) => {
      if (done) return;
      done = true;
      clearInterval(pump);
      socket.destroy();
      resolve({ answer, ended });
    };
    let sent = 0;
    let pump: NodeJS.Timeout | undefined;
    const send = () => {
      pump = setInterval(() => {
        if (done || socket.destroyed) return clearInterval(pump);
        const size = Math.min(options.chunk, options.uploadBytes - sent);
        if (size <= 0) return clearInterval(pump);
        sent += size;
        socket.write(Buffer.alloc(size, 0x62));
      }, 2);
    };
    socket.on('connect', () => {
      const expect = options.waitForContinue ? 'expect: 100-continue\r\n' : '';
      socket.write(`POST /upload HTTP/1.1\r\nhost: ${options.host}\r\ncontent-length: ${options.uploadBytes}\r\n${expect}\r\n`);
      if (!options.waitForContinue) send();
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (options.waitForContinue && !pump && answer.startsWith('HTTP/1.1 100')) send();
      if (isWholeAnswer(answer)) finish('open');
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', () => finish('reset'));
  });
}

/** A final (non-1xx) answer whose content-length of body has all come. */
function isWholeAnswer(text: string): boolean {
  let rest = text;
  while (rest.startsWith('HTTP/1.1 1')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return false;
    rest = rest.slice(end + 4);
  }
  const end = rest.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const length = /content-length: (\d+)/i.exec(rest.slice(0, end))?.[1];
  return length !== undefined && rest.length - end - 4 >= Number(length);
}
