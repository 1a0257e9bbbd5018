import { createServer, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { rebindError } from '../errors.ts';
import { monoNow } from '../host-globals.ts';

// What every listener of the host (the game port and the admin port) puts in
// front of HTTP: no socket may crash the process whatever it does (a reset
// during the headers, the upgrade or a delayed refusal), one address cannot
// hold more than its share of sockets, and a socket that sends nothing, or
// sends its headers a byte at a time, is closed by Node's HTTP timeouts.

export interface GuardOptions {
  /** TCP connections one remote address may hold at once; 0 = no cap. */
  maxPerAddress: number;
  /** Headers must arrive within this (Slowloris). */
  headersTimeoutMs: number;
  /** A whole plain-HTTP request must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive HTTP connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** What the refusal says: which flag raises the cap. */
  capFlag: string;
  /**
   * Sockets, from all addresses together, that have not become WebSockets yet
   * (a handshake, a page load, a flood of idle connects); past it the oldest
   * of them is closed for the newcomer. Keeps one port from using up the
   * process's file descriptors, which the other port needs too.
   */
  maxPending: number;
}

export const DEFAULT_GUARD: Omit<GuardOptions, 'capFlag'> = {
  maxPerAddress: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxPending: 512,
};

/** How often Node sweeps for connections past their header/request timeout (its default, 30 s, lets an idle flood sit too long). */
const TIMEOUT_SWEEP_MS = 1_000;

/**
 * Who counts as one address: an IPv4 address, or an IPv6 /64 (one subscriber
 * usually holds a whole /64, so counting single IPv6 addresses caps nothing).
 */
export function addressKey(address: string): string {
  if (!address.includes(':') || address.startsWith('::ffff:')) return address.replace(/^::ffff:/, '');
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** An HTTP server with the guard in front of it. */
export function guardedServer(options: GuardOptions): { http: HttpServer; guard: ConnectionGuard } {
  const http = createServer({ connectionsCheckingInterval: TIMEOUT_SWEEP_MS });
  return { http, guard: new ConnectionGuard(http, options) };
}

/** A socket younger than this is never given up for a newcomer: it may be mid-handshake. */
const EVICT_AFTER_MS = 1000;

export class ConnectionGuard {
  /** Per address, its sockets in the order they came, with when. */
  private readonly perAddress = new Map<string, Map<Socket, number>>();
  /** Sockets not upgraded yet, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<Socket>();
  refused = 0;
  evictedPending = 0;
  /**
   * Whether a socket is still only a claim on a seat (no token shown, no
   * player joined): at the cap, the oldest such socket of the address makes
   * room for the newcomer, so idle sockets cannot lock an address out.
   * The listener that owns the guard says; by default none is.
   */
  idle: (socket: Socket) => boolean = () => false;

  constructor(
    http: HttpServer,
    private readonly options: GuardOptions,
  ) {
    http.headersTimeout = options.headersTimeoutMs;
    http.requestTimeout = options.requestTimeoutMs;
    http.keepAliveTimeout = options.keepAliveTimeoutMs;
    http.on('connection', (socket: Socket) => this.onConnection(socket));
    // Once a WebSocket, a socket is the listener's to judge (players, tokens), no longer a pending one.
    http.on('upgrade', (req: { socket: Socket }) => this.pending.delete(req.socket));
    // Node's default answers a bad request (oversized headers: 431) and destroys the
    // socket; this one does the same and never throws on a socket already gone.
    http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && !socket.destroyed && err.code !== 'ECONNRESET') {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
  }

  private onConnection(socket: Socket): void {
    // The one listener that makes every later 'error' (ECONNRESET, EPIPE...) harmless:
    // HTTP removes its own when it hands the socket to an upgrade handler.
    socket.on('error', () => undefined);
    const address = addressKey(socket.remoteAddress ?? '?');
    let held = this.perAddress.get(address);
    if (!held) this.perAddress.set(address, (held = new Map()));
    const cap = this.options.maxPerAddress;
    if (cap > 0 && held.size >= cap && !this.evictIdle(held)) {
      this.refused++;
      // Said in HTTP, before the request is read: a WebSocket client sees a 429 with a reason.
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\ntoo many connections from ${address} (limit ${cap}, ${this.options.capFlag})\n`);
      socket.destroySoon();
      return;
    }
    // headersTimeout counts from a request's first byte; a socket that sends nothing at all
    // is closed by this idle timeout instead (Node's HTTP destroys a socket on 'timeout';
    // ws clears it once the socket is a WebSocket).
    socket.setTimeout(this.options.headersTimeoutMs);
    const sockets = held;
    sockets.set(socket, monoNow());
    this.admitPending(socket);
    socket.once('close', () => {
      this.pending.delete(socket);
      sockets.delete(socket);
      if (sockets.size === 0 && this.perAddress.get(address) === sockets) this.perAddress.delete(address);
    });
  }

  private admitPending(socket: Socket): void {
    const max = this.options.maxPending;
    while (max > 0 && this.pending.size >= max) {
      const oldest = this.pending.values().next().value!;
      this.pending.delete(oldest);
      this.evictedPending++;
      oldest.destroy();
    }
    this.pending.add(socket);
  }

  private evictIdle(held: Map<Socket, number>): boolean {
    const now = monoNow();
    for (const [socket, since] of held) {
      if (now - since < EVICT_AFTER_MS) break; // in arrival order: the rest are younger
      if (!this.idle(socket)) continue;
      held.delete(socket);
      socket.destroy();
      return true;
    }
    return false;
  }
}

/** Listens, turning the usual failures into a message that names the flag to change. */
export function listen(http: HttpServer, port: number, host: string, what: string, flag: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      http.off('listening', onListening);
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE') reject(rebindError('PORT_IN_USE', `the ${what} port ${where} is in use by another process: stop it, or pick another port with ${flag}`));
      else if (err.code === 'EACCES') reject(rebindError('PORT_IN_USE', `not allowed to listen on the ${what} port ${where} (ports under 1024 need privileges): pick another with ${flag}`));
      else if (err.code === 'EADDRNOTAVAIL') reject(rebindError('PORT_IN_USE', `${host} is not an address of this machine, so the ${what} port cannot listen there`));
      else reject(err);
    };
    const onListening = () => {
      http.off('error', onError);
      resolve();
    };
    http.once('error', onError);
    http.once('listening', onListening);
    http.listen(port, host);
  });
}
