import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { appSite, iapGate } from './iap.ts';
import type { FakeGoogle, Reply } from './server.ts';

/**
 * The parts of the IAP-protected app that never hold a body whole, for the proxy's tests: a streamed upload and
 * download of any size, and a WebSocket echo. Each passes the same IAP gate as the rest of the app.
 *   POST|PUT /app/stream/upload        → {"bytes": N, "sha256": "…"} of what arrived
 *                                         (?hold: nothing read of it until fake.releaseUploads())
 *   GET      /app/stream/download?bytes=N → N bytes of a fixed pattern (see `patternSha256`)
 *   GET      /app/ws (Upgrade: websocket) → echoes each text frame
 */

export const STREAM_PREFIX = '/app/stream/';
export const WEBSOCKET_PATH = '/app/ws';
const CHUNK = 64 * 1024;

/** The download's bytes: a repeating pattern, so that the client can check what it got without a copy of it. */
function patternChunk(): Buffer {
  const chunk = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i++) chunk[i] = (i * 31 + 7) & 0xff;
  return chunk;
}

export function patternSha256(bytes: number): string {
  const hash = createHash('sha256');
  const chunk = patternChunk();
  for (let sent = 0; sent < bytes; sent += CHUNK) hash.update(chunk.subarray(0, Math.min(CHUNK, bytes - sent)));
  return hash.digest('hex');
}

function gate(fake: FakeGoogle, req: IncomingMessage, path: string): Reply | undefined {
  const scheme = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  const passed = iapGate(fake, appSite(fake), { origin: `${scheme}://${req.headers.host ?? 'unknown'}`, path, headers: req.headers });
  if ('status' in passed) return passed;
  fake.appRequests.push({ path, method: req.method ?? 'GET', authorization: passed.ownAuthorization });
  return undefined;
}

/** Serves a streamed request; `false` when the path is not one of these. */
export function handleStream(fake: FakeGoogle, req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://fake.invalid');
  if (!url.pathname.startsWith(STREAM_PREFIX)) return false;
  fake.requests.push({ endpoint: 'iap', method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, at: fake.now() });
  const refused = gate(fake, req, url.pathname);
  if (refused) {
    req.resume();
    res.writeHead(refused.status, refused.headers);
    res.end(typeof refused.body === 'string' ? refused.body : JSON.stringify(refused.body ?? ''));
    return true;
  }
  if (url.pathname === `${STREAM_PREFIX}upload`) {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      fake.streamed.uploaded += chunk.length;
      hash.update(chunk);
    });
    if (url.searchParams.has('hold')) {
      req.pause();
      fake.heldUploads.push(() => req.resume());
    }
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
    });
    return true;
  }
  if (url.pathname === `${STREAM_PREFIX}download`) {
    req.resume();
    const total = Number(url.searchParams.get('bytes') ?? 0);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    const chunk = patternChunk();
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const part = chunk.subarray(0, Math.min(CHUNK, total - sent));
        sent += part.length;
        fake.streamed.downloaded += part.length;
        if (!res.write(part)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return true;
  }
  req.resume();
  res.writeHead(404).end();
  return true;
}

/** The WebSocket echo behind IAP: a refusal is IAP's own HTTP answer; otherwise the handshake and an echo of text frames. */
export function handleUpgrade(fake: FakeGoogle, req: IncomingMessage, socket: Duplex): void {
  const path = new URL(req.url ?? '/', 'http://fake.invalid').pathname;
  socket.on('error', () => socket.destroy());
  if (path !== WEBSOCKET_PATH) {
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  fake.requests.push({ endpoint: 'iap', method: 'GET', path, query: new URLSearchParams(), at: fake.now() });
  const refused = gate(fake, req, path);
  if (refused) {
    const body = typeof refused.body === 'string' ? refused.body : '';
    const headers = Object.entries(refused.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.end(
      `HTTP/1.1 ${refused.status} Refused\r\n${headers.join('')}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    return;
  }
  const accept = createHash('sha1')
    .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  let buffered = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    for (let frame = readFrame(buffered); frame; frame = readFrame(buffered)) {
      buffered = buffered.subarray(frame.length);
      if (frame.opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0x00]));
        return;
      }
      if (frame.opcode === 0x1) socket.write(textFrame(`echo: ${frame.payload.toString('utf8')}`));
    }
  });
}

/** One client frame (masked, as clients send them), or undefined until all of it has arrived. */
function readFrame(data: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (data.length < 2) return undefined;
  const opcode = (data[0] ?? 0) & 0x0f;
  let size = (data[1] ?? 0) & 0x7f;
  let offset = 2;
  if (size === 126) {
    if (data.length < 4) return undefined;
    size = data.readUInt16BE(2);
    offset = 4;
  } else if (size === 127) {
    if (data.length < 10) return undefined;
    size = Number(data.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = ((data[1] ?? 0) & 0x80) !== 0;
  const mask = masked ? data.subarray(offset, offset + 4) : undefined;
  if (masked) offset += 4;
  if (data.length < offset + size) return undefined;
  const payload = Buffer.from(data.subarray(offset, offset + size));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return { opcode, payload, length: offset + size };
}

function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header =
    payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
}

/**
 * A WebSocket client of the fewest lines (jest's environment has no WebSocket): the handshake at `url` (ws://), one
 * masked text frame, and the first text frame back. Rejects with the HTTP answer when the upgrade is refused.
 */
export function websocketRoundTrip(url: string, text: string, headers: Record<string, string> = {}): Promise<string> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(target.port), target.hostname, () => {
      const key = randomBytes(16).toString('base64');
      const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      socket.write(
        `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra.join('')}\r\n`,
      );
    });
    let buffered = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) {
          socket.destroy();
          reject(new Error(`upgrade refused: ${head.split('\r\n')[0] ?? ''}`));
          return;
        }
        upgraded = true;
        buffered = buffered.subarray(end + 4);
        const payload = Buffer.from(text);
        const mask = randomBytes(4);
        const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
        socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
      }
      const frame = readFrame(buffered);
      if (frame) {
        socket.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0]));
        resolve(frame.payload.toString('utf8'));
      }
    });
    socket.on('error', reject);
  });
}
