import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createLogger } from '../log.ts';
import { hostClearTimeout, hostSetTimeout } from '../host-globals.ts';

// What a request controls must never throw where nothing catches it: a URL
// such as "//[" makes `new URL` throw, and inside an HTTP listener that ends
// the whole process. Parsing here answers undefined instead; and a request
// listener wrapped by `neverThrows` answers 500 and logs if a handler has a
// bug, so one request cannot take every player down.

const log = createLogger('http');

/** The request's URL, or undefined when it cannot be parsed (the caller answers 400). */
export function requestUrl(req: IncomingMessage, base: string): URL | undefined {
  try {
    return new URL(req.url ?? '/', base);
  } catch {
    return undefined;
  }
}

/** A URL from a header (Origin...), or undefined when it cannot be parsed. */
export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

export function answerBadRequest(res: ServerResponse, why = 'bad request URL'): void {
  res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end(`${why}\n`);
}

/** Wraps a request listener: a throw becomes a 500 and a log line, never an uncaught exception. */
export function neverThrows(what: string, listener: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    try {
      listener(req, res);
    } catch (err) {
      log.error(`${what}: the request ${req.method ?? '?'} ${String(req.url).slice(0, 200)} failed: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('internal error\n');
    }
  };
}

/** How long a refused socket may take to flush its answer before it is destroyed anyway. */
const REFUSAL_FLUSH_MS = 2000;

/**
 * Answers a raw socket (an upgrade that is refused) and closes it for good:
 * `end()` alone half-closes, and HTTP sockets allow half-open connections,
 * so a peer that never closes its side would hold the socket forever.
 */
export function refuseSocket(socket: Socket, status: string, body: string): void {
  if (socket.destroyed) return;
  const timer = hostSetTimeout(() => socket.destroy(), REFUSAL_FLUSH_MS);
  timer.unref();
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => {
    hostClearTimeout(timer);
    socket.destroy();
  });
}
