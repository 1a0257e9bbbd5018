import { randomBytes } from 'node:crypto';
import net from 'node:net';

// Hostile connections at the TCP level: what a browser or the ws library
// would never send, written byte by byte on raw sockets.

export interface Target {
  host: string;
  port: number;
}

export function target(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** An HTTP/1.1 WebSocket upgrade request for `path`. */
export function upgradeRequest(t: Target, path = '/', extra: Record<string, string> = {}): string {
  const headers = {
    host: `${t.host}:${t.port}`,
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': randomBytes(16).toString('base64'),
    'sec-websocket-version': '13',
    ...extra,
  };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
}

export function connect(t: Target, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: t.host, port: t.port, ...(localAddress ? { localAddress } : {}) });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves with everything the peer sent once it closes (or after `ms`). */
export function readUntilClose(socket: net.Socket, ms = 5000): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    const timer = setTimeout(() => resolve({ data, closed: false }), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
}

/** Resolves when the peer's reply contains `marker` (the end of the response headers by default). */
export function readUntil(socket: net.Socket, marker = '\r\n\r\n', ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => reject(new Error(`no "${JSON.stringify(marker)}" within ${ms} ms; got ${JSON.stringify(data.slice(0, 200))}`)), ms);
    const onData = (d: Buffer) => {
      data += d.toString('latin1');
      if (data.includes(marker)) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(data);
      }
    };
    socket.on('data', onData);
  });
}

/** Sends `bytes`, waits `afterMs`, then resets the connection (RST, not FIN). */
export async function sendThenReset(t: Target, bytes: string | Buffer, afterMs: number): Promise<void> {
  const socket = await connect(t);
  if (bytes.length > 0) socket.write(bytes);
  await new Promise((r) => setTimeout(r, afterMs));
  socket.resetAndDestroy();
}

/** A client-to-server WebSocket frame (masked, as the protocol requires), possibly cut short. */
export function maskedFrame(payload: Buffer, opcode = 0x2): Buffer {
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  const head = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length]) : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, mask, body]);
}

/** `count` sockets, `perAddress` each from loopback addresses 127.0.1.1, 127.0.1.2, ... (skipping the first `skipAddresses`). */
export async function openMany(t: Target, count: number, perAddress: number, then: (socket: net.Socket) => void, skipAddresses = 0): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const batch = 500;
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, (_, j) => {
        const n = skipAddresses + Math.floor((i + j) / perAddress);
        return connect(t, `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`);
      }),
    );
    for (const s of opened) then(s);
    sockets.push(...opened);
  }
  return sockets;
}
