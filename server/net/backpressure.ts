// When is a client too slow to keep? Not when one write passes a limit: a
// room snapshot of several megabytes is queued in one event-loop turn, and a
// client on any decent link reads it in milliseconds. A client is too slow
// when what is queued for it stays over `maxSendBuffer` for `slowClientMs`;
// and whatever the time, nothing more is queued once `maxQueuedBytes` wait,
// so memory stays bounded even before the timer has had its say.

export interface BackpressureLimits {
  maxSendBuffer: number;
  slowClientMs: number;
  maxQueuedBytes: number;
}

export type Verdict = 'ok' | 'too-slow' | 'queue-full';

export class Backpressure {
  private timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;

  constructor(
    private readonly limits: BackpressureLimits,
    /** Bytes queued for the client now (ws's bufferedAmount). */
    private readonly queued: () => number,
    /** Called once, when the client has stayed over the limit for too long. */
    private readonly onTooSlow: (why: Verdict) => void,
  ) {}

  /** Before a write: may `bytes` more be queued? */
  beforeWrite(bytes: number): Verdict {
    const queued = this.queued();
    // One message always goes out to a client that has caught up, however big.
    if (queued > 0 && queued + bytes > this.limits.maxQueuedBytes) return 'queue-full';
    return 'ok';
  }

  /** After a write: starts the clock when the queue goes over the limit. */
  afterWrite(): void {
    if (this.timer || this.queued() <= this.limits.maxSendBuffer) return;
    this.timer = setTimeout(() => {
      // Judged after the I/O phase: after a stall of the server's own loop, the socket
      // gets its chance to write (and 'drain') before the client is blamed.
      this.timer = setImmediate(() => {
        this.timer = undefined;
        if (this.queued() > this.limits.maxSendBuffer) this.onTooSlow('too-slow');
      });
    }, this.limits.slowClientMs);
    this.timer.unref();
  }

  /** The socket emptied its queue: whatever was over the limit was read. */
  drained(): void {
    this.stop();
  }

  stop(): void {
    clearTimeout(this.timer as ReturnType<typeof setTimeout>);
    clearImmediate(this.timer as ReturnType<typeof setImmediate>);
    this.timer = undefined;
  }
}
