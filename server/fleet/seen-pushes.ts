import { HOLD_LIMITS } from './held-pushes.ts';

// A cross-node push can reach Redis twice: its PUBLISH got no answer in time
// (Redis frozen or stalled, or the connection dropped before the answer), so
// the sender held it and sent it again once Redis answered, while Redis ran
// the first PUBLISH too when it woke. Every push crosses with its sender's
// mark (a random id per process, and its place in that process's order of
// sending); the receiver delivers a mark once. Per sender it keeps a window
// of the latest places in the order (a second copy comes at most a hold's
// worth of pushes after the first, plus what went meanwhile), one byte each
// in a ring: a few operations a push, nothing allocated (a Set of numbers
// with eviction cost a third of the fleet's cross-node messages a second).
// A push older than the window cannot be told from a first copy and is
// delivered. Senders are bounded too: the oldest is forgotten first.

/** Places in a sender's order remembered: far more than the hold's count, so that a held copy still finds its first one. */
const WINDOW_BITS = Math.max(17, Math.ceil(Math.log2(8 * HOLD_LIMITS.count)));
/** Senders remembered (a node's processes over its restarts): the oldest is forgotten first. */
const SENDERS = 64;

/** One sender's latest places in its order of sending, as a ring of seen flags. */
export class SenderWindow {
  private readonly seen: Uint8Array;
  private readonly mask: number;
  private highest = -1;

  constructor(bits = WINDOW_BITS) {
    this.seen = new Uint8Array(1 << bits);
    this.mask = (1 << bits) - 1;
  }

  /** True the first time push `seq` is seen (or when it is too old to tell); false for a second copy. */
  first(seq: number): boolean {
    const size = this.seen.length;
    if (seq > this.highest) {
      // The places the window moves over are free again.
      if (seq - this.highest >= size) this.seen.fill(0);
      else for (let s = this.highest + 1; s <= seq; s++) this.seen[s & this.mask] = 0;
      this.highest = seq;
    } else if (seq <= this.highest - size) return true;
    const at = seq & this.mask;
    if (this.seen[at] === 1) return false;
    this.seen[at] = 1;
    return true;
  }
}

export class SeenPushes {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(
    private readonly windowBits = WINDOW_BITS,
    private readonly maxSenders = SENDERS,
  ) {}

  /** The window of one sender (node and process mark), made at its first push. */
  of(sender: string): SenderWindow {
    let window = this.senders.get(sender);
    if (!window) {
      if (this.senders.size >= this.maxSenders) this.senders.delete(this.senders.keys().next().value!);
      this.senders.set(sender, (window = new SenderWindow(this.windowBits)));
    }
    return window;
  }
}
