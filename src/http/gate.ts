import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { canTellPeers, peerUid } from './peer-owner.ts';
import { rawAnswer } from './replies.ts';
import { isLoopback } from '../urls.ts';
import type { LogLine } from '../logger.ts';

// The door in front of each proxy's HTTP server: every accepted connection is counted and, where the machine can
// tell, checked for whose it is before the server reads a byte of it. The proxies act as the job's identity, so they
// serve only the user that started them (and root, who can read their memory anyway): on a shared runner or a laptop
// with other accounts, another user's connection is closed unanswered, so it learns nothing, not even what listens.
// Past `maxConnections` open connections, a new one is answered 503 and closed.

export interface GateOptions {
  readonly maxConnections: number;
  /** Serve only this user (and root), checked by each peer socket's owner; undefined: whoever can connect. */
  readonly onlyUid: number | undefined;
  readonly log: LogLine;
}

/** Who may use a proxy listening on `host`, and how that is known: the line the log and the README say. */
export interface PeerPolicy {
  /** The user served alone, when the machine can tell peers apart. */
  readonly onlyUid: number | undefined;
  readonly says: string;
}

export function peerPolicy(host: string): PeerPolicy {
  const uid = process.getuid?.();
  if (uid !== undefined && isLoopback(host) && canTellPeers()) {
    return { onlyUid: uid, says: `serves only uid ${uid} (the user that started it) and root: other users' connections are closed` };
  }
  const why = isLoopback(host)
    ? `this machine (${process.platform}) cannot tell which user a loopback connection is from`
    : `it listens on ${host}`;
  return { onlyUid: undefined, says: `cannot check who connects (${why})` };
}

export interface Door {
  /** What listens, in the server's place. */
  readonly listener: Server;
  /** Stops listening and ends every connection admitted, kept-alive ones included. */
  close(): Promise<void>;
}

/** After a 503, how long a client has to read it before its connection is cut. */
const REFUSAL_GRACE_MS = 1_000;

/** A listener that admits connections into `server`; listen on it instead of on the server. */
export function gate(server: HttpServer, options: GateOptions): Door {
  // Node's HTTP server starts keeping its connections (their headersTimeout, closeAllConnections) when it starts
  // listening. It listens through this door instead, so it is told that it listens.
  server.emit('listening');
  // Every socket accepted, whatever became of it: close() ends them all.
  const accepted = new Set<Socket>();
  let open = 0;
  let full = false;
  const refusedUids = new Set<number | undefined>();
  const refuse = (socket: Socket, uid: number | undefined): void => {
    if (!refusedUids.has(uid)) {
      refusedUids.add(uid);
      options.log(
        `Refused a connection from ${uid === undefined ? 'a user this machine did not name' : `uid ${uid}`}: the proxy serves only uid ${options.onlyUid ?? ''} (the user that started it) and root.`,
      );
    }
    socket.destroy();
  };
  /** Past the limit: 503, and the connection cut soon after, whether or not the client closes it. */
  const overLimit = (socket: Socket): void => {
    if (!full) options.log(`The proxy holds ${options.maxConnections} connections, its limit; new ones get 503 until some close.`);
    full = true;
    // What the client sent is read and dropped, so that it can read the answer before the connection closes.
    socket.resume();
    socket.end(rawAnswer(503, `the proxy already holds ${options.maxConnections} connections (its limit)`));
    setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
  };
  const front = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    accepted.add(socket);
    socket.once('close', () => accepted.delete(socket));
    socket.on('error', () => socket.destroy());
    // Whose it is comes first: another user's connection is neither counted nor answered, even when the proxy is full.
    void admitted(socket, options.onlyUid).then(
      (uid) => {
        if (socket.destroyed) return;
        if (uid !== 'admitted') return refuse(socket, uid);
        if (open >= options.maxConnections) return overLimit(socket);
        open++;
        socket.once('close', () => {
          open--;
          if (open < options.maxConnections) full = false;
        });
        server.emit('connection', socket);
        socket.resume();
      },
      () => socket.destroy(),
    );
  });
  return {
    listener: front,
    close: () =>
      new Promise<void>((resolve) => {
        front.close(() => resolve());
        server.close();
        server.closeAllConnections();
        for (const socket of accepted) socket.destroy();
      }),
  };
}

async function admitted(socket: Socket, onlyUid: number | undefined): Promise<'admitted' | number | undefined> {
  if (onlyUid === undefined) return 'admitted';
  const uid = await peerUid(socket);
  return uid === onlyUid || uid === 0 ? 'admitted' : uid;
}
