import type { WebSocket } from 'ws';

// A push that goes to many clients (a room's tick) is framed once: the
// WebSocket header and the payload in one buffer, written as is to each
// client's socket. ws would frame it again for every socket, as two writes
// (header, payload) that leave as one writev. Server frames are never masked,
// so the bytes are the same for every client.

/** `payload` as one final, unmasked, uncompressed binary frame (RFC 6455 5.2). */
export function binaryFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x82; // FIN, opcode 2 (binary); RSV1 clear: a frame need not be compressed even where deflate was agreed
  if (head === 2) frame[1] = n;
  else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 0x100000000), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(frame, head);
  return frame;
}

interface RawSocket {
  write(data: Buffer): boolean;
}

/**
 * The socket under `ws`, if a frame written to it now would leave in order:
 * ws's sender has nothing of its own waiting (it queues frames while it
 * compresses one or reads a Blob). Otherwise undefined, and ws sends.
 */
export function idleSocket(ws: WebSocket): RawSocket | undefined {
  const inner = ws as unknown as { _sender?: { _state?: number; _queue?: unknown[] }; _socket?: RawSocket };
  const sender = inner._sender;
  if (!sender || sender._state !== 0 || !Array.isArray(sender._queue) || sender._queue.length > 0) return undefined;
  return inner._socket;
}
