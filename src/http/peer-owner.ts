import { readFile } from 'node:fs/promises';
import { accessSync, constants } from 'node:fs';
import { endianness } from 'node:os';
import type { Socket } from 'node:net';
import { isIPv4 } from 'node:net';

// Who is on the other end of a loopback connection, as identd tells it: on Linux the peer's socket is a line of
// /proc/net/tcp (IPv4) or tcp6 whose local address is our connection's remote one and whose remote address is our
// local one, and that line names the user that owns it. Nothing is asked of the peer, so it cannot lie.

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];

/** Whether this machine can tell a loopback peer's user (Linux, with /proc/net readable). */
export function canTellPeers(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    accessSync(TABLES[0] ?? '', constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The uid owning the peer's end of `socket`, or undefined when no table names it (it left, or another namespace). */
export async function peerUid(socket: Socket): Promise<number | undefined> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return undefined;
  const peer = forms(remoteAddress).map((address) => `${address}:${hexPort(remotePort)}`);
  const ours = forms(localAddress).map((address) => `${address}:${hexPort(localPort)}`);
  for (const table of TABLES) {
    const text = await snapshot(table);
    const uid = text === undefined ? undefined : findOwner(text, peer, ours);
    if (uid !== undefined) return uid;
  }
  return undefined;
}

/**
 * One read of a table serves every connection that asked for it before that read began: however many connect at
 * once, at most one read is under way and one waits (each connection must see a table read after it was accepted).
 */
interface Reads {
  inFlight: Promise<string | undefined> | undefined;
  queued: Promise<string | undefined> | undefined;
}
const reads = new Map<string, Reads>();

function snapshot(table: string): Promise<string | undefined> {
  let state = reads.get(table);
  if (!state) reads.set(table, (state = { inFlight: undefined, queued: undefined }));
  const queue = state;
  const start = (): Promise<string | undefined> => {
    queue.queued = undefined;
    const read = readFile(table, 'latin1')
      .catch(() => undefined)
      .finally(() => {
        if (queue.inFlight === read) queue.inFlight = undefined;
      });
    queue.inFlight = read;
    return read;
  };
  if (queue.queued) return queue.queued;
  if (queue.inFlight) return (queue.queued = queue.inFlight.then(start, start));
  return start();
}

/** The uid column of the line whose local address is one of `peer` and remote one of `ours`. */
export function findOwner(table: string, peer: readonly string[], ours: readonly string[]): number | undefined {
  for (const line of table.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid …
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || !peer.includes(fields[1] ?? '') || !ours.includes(fields[2] ?? '')) continue;
    // A socket no process holds (closed: TIME_WAIT, an orphaned FIN_WAIT) shows uid 0 and inode 0: nobody's, not root's.
    if (fields[9] === '0') return undefined;
    const uid = Number(fields[7]);
    if (Number.isInteger(uid)) return uid;
  }
  return undefined;
}

const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');

/**
 * An address as the kernel prints it: each 32-bit word of the address as the machine stores it, in hex. An IPv4
 * address may also stand in tcp6 as IPv4-mapped (a dual-stack client), so both spellings are tried.
 */
export function forms(address: string, little = endianness() === 'LE'): string[] {
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(v4)) {
    const bytes = v4.split('.').map(Number);
    return [words(bytes, little), words([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes], little)];
  }
  return [words(ipv6Bytes(address), little)];
}

function words(bytes: readonly number[], little: boolean): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    const word = bytes.slice(i, i + 4);
    for (const byte of little ? word.reverse() : word) out += byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** The 16 bytes of an IPv6 address (`::` expanded; no zone, as a loopback socket has none). */
function ipv6Bytes(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return all.flatMap((group) => {
    const value = parseInt(group, 16) || 0;
    return [value >> 8, value & 0xff];
  });
}
