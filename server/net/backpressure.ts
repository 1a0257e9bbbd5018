import { hostClearImmediate, hostClearTimeout, hostSetImmediate, hostSetTimeout } from '../host-globals.ts';
// When is a client too slow to keep? Not when one write passes a limit: a
// room snapshot of several megabytes is queued in one event-loop turn, and a
// client on any decent link reads it in milliseconds. A client is too slow
// when what is queued for it stays over `maxSendBuffer` for `slowClientMs`;
// and whatever the time, nothing more is queued once `maxQueuedBytes` wait,
// so memory stays bounded even before the timer has had its say.
//
// What the server itself pushes when a client joins or resumes (room
// snapshots, the join reply) is not the client's fault, however big: such a
// burst is queued whole and does not count against `maxQueuedBytes`. One
// burst at a time: a new one is exempt only once the previous one was read
// (or in the same event-loop turn), so a client that never reads holds at
// most one burst beyond the ceiling, and the clock still cuts it.

export interface BackpressureLimits {
  maxSendBuffer: number;
  slowClientMs: number;
  maxQueuedBytes: number;
}

export type Verdict = 'ok' | 'too-slow' | 'queue-full';

/** A WebSocket frame's header is at most 14 bytes (RFC 6455 5.2: 2, 8 for the length, 4 for a mask). */
const MAX_FRAME_HEADER = 14;

export class Backpressure {
  private timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  /** Bytes handed to the socket since the start (the position in the stream). */
  private written = 0;
  /** Where the bytes of exempt bursts still queued end, and how many there are: [end, bytes]. */
  private exempt: Array<[number, number]> = [];
  /** The burst of this event-loop turn is open: more of it is exempt too. */
  private burstOpen = false;
  /** What beforeWrite decided for the write that follows: exempt or not. */
  private nextExempt = false;
  /** What was queued when beforeWrite looked. */
  private queuedBefore = 0;

  constructor(
    private readonly limits: BackpressureLimits,
    /** Bytes queued for the client now (ws's bufferedAmount). */
    private readonly queued: () => number,
    /** Called once, when the client has stayed over the limit for too long. */
    private readonly onTooSlow: (why: Verdict) => void,
  ) {}

  /** Exempt bytes not read yet (the stream is read in order: what was written first leaves first). */
  private exemptQueued(queued: number): number {
    if (this.exempt.length === 0) return 0;
    const read = this.written - queued;
    this.exempt = this.exempt.filter(([end]) => end > read);
    let total = 0;
    for (const [end, bytes] of this.exempt) total += Math.min(bytes, end - read);
    return total;
  }

  /** Before a write: may `bytes` more be queued? `burst`: part of a join or resume the server sends. */
  beforeWrite(bytes: number, burst = false): Verdict {
    const queued = (this.queuedBefore = this.queued());
    const exempt = this.exemptQueued(queued);
    this.nextExempt = burst && (this.burstOpen || exempt === 0);
    if (this.nextExempt) return 'ok';
    const owed = Math.max(0, queued - exempt);
    // One message always goes out to a client that has caught up, however big.
    if (owed > 0 && owed + bytes > this.limits.maxQueuedBytes) return 'queue-full';
    return 'ok';
  }

  /** After the write of `bytes` beforeWrite allowed: starts the clock when the queue goes over the limit. */
  afterWrite(bytes: number): void {
    this.written += bytes;
    if (this.nextExempt) {
      this.nextExempt = false;
      this.exempt.push([this.written, bytes]);
      if (!this.burstOpen) {
        this.burstOpen = true;
        hostSetImmediate(() => (this.burstOpen = false));
      }
    }
    // What is queued now is at most what was before plus this write and its frame header:
    // only near the limit is it worth asking the socket (once per write per member of a tick).
    if (this.timer || this.queuedBefore + bytes + MAX_FRAME_HEADER <= this.limits.maxSendBuffer || this.queued() <= this.limits.maxSendBuffer) return;
    this.timer = hostSetTimeout(() => {
      // Judged after the I/O phase: after a stall of the server's own loop, the socket
      // gets its chance to write (and 'drain') before the client is blamed.
      this.timer = hostSetImmediate(() => {
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
    hostClearTimeout(this.timer as ReturnType<typeof setTimeout>);
    hostClearImmediate(this.timer as ReturnType<typeof setImmediate>);
    this.timer = undefined;
  }
}
