import { types } from 'node:util';
import { WebSocket, type RawData } from 'ws';
import type { RebindError } from '../errors.ts';
import { decodeRequest, encode, peekSeq, replyError, type EncodedOnce, type Encoding, type Request } from './codec.ts';
import { Backpressure, type Verdict } from './backpressure.ts';
import { idleSocket } from './ws-frame.ts';
import type { Pingable } from './heartbeat.ts';
import { RateLimiter, WindowCounter, type NetLimits } from './limits.ts';
import type { Link, Session } from './sessions.ts';
import { createLogger } from '../log.ts';
import { hostClearTimeout, hostNextTick, hostSetImmediate, hostSetTimeout, monoNow } from '../host-globals.ts';
import { thrownMessage } from '../thrown.ts';

const log = createLogger('net');

// One client connection: decodes frames, applies the per-connection limits,
// hands requests to the gateway and writes replies in the encoding each
// request came in. Pushes go out in the encoding the client used last.

export const CLOSE = {
  goingAway: 1001,
  policy: 1008,
  tryAgainLater: 1013,
  tooBig: 1009,
  replaced: 4001,
  authTimeout: 4002,
} as const;

/** What a connection needs from the gateway. */
export interface RequestHandler {
  readonly limits: NetLimits;
  /** `arrivedAt`: monoNow() when the frame arrived, before it was decoded. */
  handle(conn: Connection, request: Request, arrivedAt: number): unknown[] | Promise<unknown[]> | undefined;
}

export class Connection implements Link, Pingable {
  session: Session | undefined;
  encoding: Encoding = 'msgpack';
  private readonly limiter: RateLimiter;
  private readonly badFrames: WindowCounter;
  private pending = 0;
  private closed = false;
  /** The socket corked in this turn (cork), or null. */
  private corked: { uncork(): void } | null = null;
  private readonly backpressure: Backpressure;
  private authTimer: ReturnType<typeof setTimeout> | undefined;
  readonly openedAt = monoNow();
  answered = true;
  private joinBy = 0;
  private armings = 0;

  constructor(
    private readonly gateway: RequestHandler,
    private readonly ws: WebSocket,
    readonly address: string,
  ) {
    const limits = gateway.limits;
    this.limiter = new RateLimiter(limits.ratePerSecond, limits.rateBurst);
    this.badFrames = new WindowCounter(limits.badFrameWindowMs);
    this.backpressure = new Backpressure(limits, () => ws.bufferedAmount, (why) => this.tooSlow(why));
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', () => undefined); // ws closes the socket itself (1009 for oversized frames)
    ws.on('close', () => {
      this.backpressure.stop();
      hostClearTimeout(this.authTimer);
    });
    this.socket()?.on('drain', () => this.backpressure.drained());
    ws.on('pong', () => (this.answered = true));
    this.expectJoin();
  }

  /**
   * Arms the clock for a connection without a player: it must join within
   * the limit. `fresh` (a new connection, or after $leave) starts a new
   * deadline; a refused join keeps the one it had, so failing joins cannot
   * hold a connection open.
   */
  expectJoin(fresh = true): void {
    hostClearTimeout(this.authTimer);
    const ms = this.gateway.limits.authTimeoutMs;
    if (fresh) this.joinBy = monoNow() + ms;
    const armed = ++this.armings;
    this.authTimer = hostSetTimeout(
      // After the I/O phase: a $auth that arrived while the loop was stalled is read first.
      () =>
        hostSetImmediate(() => {
          // (A $leave meanwhile armed a newer clock: that one decides.)
          if (!this.session && !this.closed && armed === this.armings) this.close(CLOSE.authTimeout, `no $auth or $resume within ${ms / 1000} s`);
        }),
      Math.max(0, this.joinBy - monoNow()),
    );
    this.authTimer.unref();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const encoding: Encoding = isBinary ? 'msgpack' : 'json';
    this.encoding = encoding;
    const limits = this.gateway.limits;
    // Refuse before decoding: a flood or an oversized request costs a peek, not a parse.
    if (!this.limiter.take()) {
      if (this.limiter.refusedInARow >= limits.maxRefusedInARow) this.close(CLOSE.policy, 'rate limit exceeded: too many requests');
      else {
        const seq = peekSeq(buffer, isBinary);
        if (seq !== 0) this.reply(replyError(seq, 'RATE_LIMITED', `over ${limits.ratePerSecond} requests per second; slow down`), encoding);
      }
      return;
    }
    if (buffer.length > limits.maxMessageBytes) {
      this.reply(replyError(peekSeq(buffer, isBinary), 'PAYLOAD_TOO_LARGE', `request of ${buffer.length} bytes is over the limit of ${limits.maxMessageBytes}`), encoding);
      return;
    }
    let request: Request;
    try {
      request = decodeRequest(buffer, isBinary);
    } catch (err) {
      const e = err as RebindError;
      const seq = typeof e.details?.seq === 'number' ? e.details.seq : 0;
      this.reply(replyError(seq, e.code, e.message), encoding);
      if (this.badFrames.hit() >= limits.maxBadFrames) this.close(CLOSE.policy, 'too many bad frames');
      return;
    }
    if (this.pending >= limits.maxInFlight) {
      // (Seq 0 asked for no reply, and gets none: as over the rate.)
      if (request.seq !== 0) this.reply(replyError(request.seq, 'RATE_LIMITED', `${limits.maxInFlight} calls already in flight; wait for replies`), encoding);
      return;
    }
    const joining = request.name === '$auth' || request.name === '$resume';
    // Never out of ws's message handler (a throw there leaves the socket unable to close, and the server's stop waits
    // for it), and never a call left unanswered with its in-flight slot taken.
    let reply: ReturnType<RequestHandler['handle']>;
    try {
      reply = this.gateway.handle(this, request, this.limiter.last);
    } catch (err) {
      return this.unanswerable(request, encoding, err);
    }
    if (types.isPromise(reply)) {
      this.pending++;
      void reply.then(
        (r) => {
          this.pending--;
          if (request.seq !== 0) this.reply(r, encoding, joining);
        },
        (err: unknown) => {
          this.pending--;
          this.unanswerable(request, encoding, err);
        },
      );
    } else if (reply && request.seq !== 0) this.reply(reply, encoding, joining);
  }

  // A method, not a closure made per message: the server runs under tsx, whose keepNames names each such closure with a
  // defineProperty, about a microsecond of every request.
  private unanswerable(request: Request, encoding: Encoding, err: unknown): void {
    log.error(`a request could not be answered (${request.name})`, err);
    if (request.seq !== 0) this.reply(replyError(request.seq, 'HANDLER_ERROR', `${request.name} could not be answered: ${thrownMessage(err)}`), encoding);
  }

  /** `burst`: the reply to $auth or $resume, which follows the room snapshots of the join and is never held back by them. */
  private reply(message: unknown[], encoding: Encoding, burst = false): void {
    let data: Buffer | string;
    const seq = message[0] as number;
    try {
      data = encode(message, encoding);
    } catch (err) {
      // A handler returned something the codec cannot carry (a cycle, a bigint, ...).
      data = encode(replyError(seq, 'HANDLER_ERROR', `the reply could not be encoded: ${thrownMessage(err)}`), encoding);
    }
    const max = this.gateway.limits.maxReplyBytes;
    if (byteLength(data) > max) {
      data = encode(replyError(seq, 'REPLY_TOO_LARGE', `the reply is ${byteLength(data)} bytes, over the limit of ${max}: return less (page it, or sync it through a room)`), encoding);
    }
    this.write(data, burst);
  }

  queued(): number {
    return this.ws.bufferedAmount;
  }

  /** `burst`: a room snapshot, which the server sends on its own (join, resume, a new view): see Backpressure. */
  deliver(message: EncodedOnce, burst = false): boolean {
    if (this.encoding === 'msgpack' && this.open) {
      // A push framed once for all its recipients, written to the socket as is (ws-frame.ts).
      const socket = idleSocket(this.ws);
      if (socket) {
        const { frame, bytes } = message.framed();
        return this.write(frame, burst, bytes, socket);
      }
    }
    return this.write(message.for(this.encoding), burst);
  }

  /** `raw`: `data` is a whole frame, written to this socket instead of through ws; `bytes` is its payload. */
  private write(data: Buffer | string, burst = false, bytes = byteLength(data), raw?: { write(data: Buffer): boolean }): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    const verdict = this.backpressure.beforeWrite(bytes, burst);
    if (verdict !== 'ok') {
      this.tooSlow(verdict);
      return false;
    }
    // A whole frame goes straight to the socket unless this turn already corked it (its order kept):
    // a tick's push is one write per member, and the cork's extra turn and writev buy it nothing.
    if (raw) raw.write(data as Buffer);
    else {
      this.cork();
      this.ws.send(data);
    }
    this.backpressure.afterWrite(bytes);
    return true;
  }

  private tooSlow(why: Verdict): void {
    const limits = this.gateway.limits;
    const detail = why === 'queue-full' ? `over ${limits.maxQueuedBytes} bytes waiting` : `over ${limits.maxSendBuffer} bytes waiting for ${limits.slowClientMs / 1000} s`;
    this.close(CLOSE.policy, `send buffer full: the client is not reading fast enough (${detail})`);
  }

  private socket(): { cork(): void; uncork(): void; on(event: 'drain', listener: () => void): unknown } | undefined {
    return (this.ws as unknown as { _socket?: { cork(): void; uncork(): void; on(event: 'drain', listener: () => void): unknown } })._socket;
  }

  /**
   * Everything sent to this client in one turn of the event loop leaves in
   * one write: the replies to a burst of requests, a tick's pushes. Measured
   * under load, the write syscalls were most of the server's time. All the
   * sockets corked in a turn are uncorked by one callback (a tick corks every
   * member's socket: one callback, not one each).
   */
  private cork(): void {
    if (this.corked !== null) return;
    const socket = this.socket();
    if (!socket) return;
    this.corked = socket;
    socket.cork();
    corkedThisTurn.push(this);
    if (corkedThisTurn.length === 1) hostNextTick(uncorkAll);
  }

  /** Lets what this turn corked leave (uncorkAll). */
  uncork(): void {
    const socket = this.corked;
    this.corked = null;
    socket?.uncork();
  }

  /** False once closing or closed: a join that finishes after that must not make a player of it. */
  get open(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  terminate(): void {
    this.closed = true;
    this.ws.terminate();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close(code, reason);
    // A client that does not read will not read the close frame either.
    hostSetTimeout(() => this.ws.terminate(), 2000).unref();
  }
}

/** Connections corked in this turn of the event loop, uncorked together at its end. */
const corkedThisTurn: Connection[] = [];

function uncorkAll(): void {
  // A write made while uncorking (a socket's drain) corks again for the next turn: take this turn's list first.
  const list = corkedThisTurn.splice(0);
  for (const conn of list) conn.uncork();
}

function byteLength(data: Buffer | string): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
}
