import { monoNow, wallNow } from '../host-globals.ts';
// Limits that keep one client from hurting the others. Defaults suit a
// real-time game: inputs at 30-60 Hz fit well inside the rate.

export interface NetLimits {
  /** Frames above this are refused by ws before being read; the socket closes with 1009. */
  maxFrameBytes: number;
  /** Requests above this get PAYLOAD_TOO_LARGE. */
  maxMessageBytes: number;
  /** Sustained requests per second per connection. */
  ratePerSecond: number;
  /** Requests allowed in a burst above the rate. */
  rateBurst: number;
  /** Refused (rate-limited) requests in a row after which the connection is closed. */
  maxRefusedInARow: number;
  /** Bad frames within `badFrameWindowMs` after which the connection is closed. */
  maxBadFrames: number;
  badFrameWindowMs: number;
  /** Bytes queued for a client that, still queued after `slowClientMs`, get it disconnected as too slow. */
  maxSendBuffer: number;
  /** How long a client's queue may stay over `maxSendBuffer` (a big snapshot takes a moment to read). */
  slowClientMs: number;
  /** Nothing more is queued for a client already this far behind: it is disconnected at once. */
  maxQueuedBytes: number;
  /** Replies above this are refused with REPLY_TOO_LARGE. */
  maxReplyBytes: number;
  /** A connection that has not joined ($auth or $resume) within this is closed with 4002. */
  authTimeoutMs: number;
  /** TCP connections per remote address (0 = no cap); past it, a 429 before any HTTP is read. */
  maxConnectionsPerAddress: number;
  /** Every connection is pinged this often; one that missed the previous ping is cut. */
  heartbeatMs: number;
  /** Calls per connection awaiting an async handler at once. */
  maxInFlight: number;
  /** Connections at once; past it new ones are closed with 1013 (try again later). */
  maxConnections: number;
}

export const DEFAULT_LIMITS: NetLimits = {
  maxFrameBytes: 1024 * 1024,
  maxMessageBytes: 64 * 1024,
  ratePerSecond: 200,
  rateBurst: 400,
  maxRefusedInARow: 2000,
  maxBadFrames: 10,
  badFrameWindowMs: 10_000,
  maxSendBuffer: 4 * 1024 * 1024,
  slowClientMs: 5_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxReplyBytes: 4 * 1024 * 1024,
  authTimeoutMs: 10_000,
  maxConnectionsPerAddress: 256,
  heartbeatMs: 30_000,
  maxInFlight: 256,
  maxConnections: 10_000,
};

/** A token bucket: `take()` is false when the connection is over its rate. */
export class RateLimiter {
  private tokens: number;
  /** monoNow() at the last take(): when the last request arrived (the dispatcher times a client call from it, sparing a clock read). */
  last = monoNow();
  refusedInARow = 0;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = monoNow();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.refusedInARow = 0;
      return true;
    }
    this.refusedInARow++;
    return false;
  }
}

/** Counts events inside a sliding window (bad frames). */
export class WindowCounter {
  private times: number[] = [];
  constructor(private readonly windowMs: number) {}
  hit(): number {
    const now = wallNow();
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! < now - this.windowMs) this.times.shift();
    return this.times.length;
  }
}
